from app.errors import AppError, Conflict, Forbidden, NotFound


class PolicyNotFound(NotFound):
    code = "approval-policy-not-found"
    title = "No such approval policy"


class PolicyNameTaken(Conflict):
    code = "approval-policy-name-taken"
    title = "Another approval policy has this name"


class UnknownApprover(AppError):
    code = "unknown-approver"
    title = "A named approver is not an active user"
    status = 422


class SelfApproval(Forbidden):
    code = "self-approval"
    title = "Authors never decide on their own posts"


class NotAnApprover(Forbidden):
    code = "not-an-approver"
    title = "You decide no stage of this post"


class StageNotReached(Conflict):
    code = "stage-not-reached"
    title = "Your stage is not open yet: earlier stages are still pending"


class AlreadyDecided(Conflict):
    code = "already-decided"
    title = "You already decided a stage of this revision"


class StageNotStuck(Conflict):
    code = "stage-not-stuck"
    title = "This stage can still be decided by the approvers it names"


class SelfAssignment(Forbidden):
    code = "self-assignment"
    title = "Nobody names themselves (or the author) to decide a stage"


class UnableApprover(AppError):
    code = "unable-approver"
    title = "A named approver could not decide this stage"
    status = 422
