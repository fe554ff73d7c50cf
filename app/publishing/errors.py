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


class ConnectorDestinationRefused(AppError):
    """A webhook gateway that is not a public http(s) address (SSRF): loopback, private,
    link-local, metadata ... (see app/publishing/connectors.py)."""

    code = "connector-destination-refused"
    title = "The connector's destination is not allowed"
    status = 422
