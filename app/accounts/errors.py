from app.errors import Conflict, NotFound


class AccountNotFound(NotFound):
    code = "account-not-found"
    title = "No such account"


class HandleTaken(Conflict):
    code = "handle-taken"
    title = "Another account has this handle on this platform"
