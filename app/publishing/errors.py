from app.errors import AppError, Conflict


class CrisisFreeze(AppError):
    code = "crisis-freeze"
    title = "A crisis freezes publishing here"
    status = 423


class ContentNotApproved(Conflict):
    code = "content-not-approved"
    title = "The content to publish is not the approved content"


class PublishFailed(AppError):
    code = "publish-failed"
    title = "The connector did not publish the post"
    status = 502
