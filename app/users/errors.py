from app.errors import Conflict, NotFound


class UserNotFound(NotFound):
    code = "user-not-found"
    title = "No such user"


class EmailTaken(Conflict):
    code = "email-taken"
    title = "Another user has this email"


class ExternalIdTaken(Conflict):
    code = "external-id-taken"
    title = "Another user has this external_id"
