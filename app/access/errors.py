from app.errors import AppError, Conflict, Forbidden, NotFound


class GrantNotFound(NotFound):
    code = "grant-not-found"
    title = "No such grant"


class GrantExists(Conflict):
    code = "grant-exists"
    title = "An identical grant is already active"


class GrantAlreadyRevoked(Conflict):
    code = "grant-already-revoked"
    title = "The grant is already revoked"


class CannotGrant(Forbidden):
    code = "cannot-grant"
    title = "You cannot grant or revoke this"


class GrantExceedsHolder(Forbidden):
    code = "grant-exceeds-holder"
    title = "Nobody can grant more than they hold"


class TrainingRequired(Conflict):
    code = "training-required"
    title = "This role needs valid training"


class UserNotActive(Conflict):
    code = "user-not-active"
    title = "The user is not active"


class InvalidGrantScope(AppError):
    code = "invalid-grant-scope"
    title = "This role cannot be granted on that scope"
    status = 422


class LastAdmin(Conflict):
    code = "last-admin"
    title = "This would leave nobody able to administer socialgov"


class SelfGrant(Forbidden):
    code = "self-grant"
    title = "Nobody grants, raises or confirms their own access"
