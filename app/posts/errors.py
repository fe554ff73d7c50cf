from app.errors import AppError, Conflict, Forbidden, NotFound, PreconditionFailed


class PostNotFound(NotFound):
    code = "post-not-found"
    title = "No such post"


class InvalidTransition(Conflict):
    code = "invalid-transition"
    title = "This transition is not allowed in the post's current state"


class ContentBlocked(AppError):
    code = "content-blocked"
    title = "The content breaks a blocking rule"
    status = 422


class RevisionMismatch(PreconditionFailed):
    code = "revision-mismatch"
    title = "The decision names a revision that is not the post's current one"


class ScheduleInvalid(AppError):
    code = "schedule-invalid"
    title = "The schedule cannot be used"
    status = 422


class PostActionForbidden(Forbidden):
    code = "post-action-forbidden"
    title = "You may not do this to this post"


class ApprovalStale(Conflict):
    code = "approval-stale"
    title = "The approved content is not the current content"
