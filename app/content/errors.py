from app.errors import AppError, Forbidden, NotFound


class ContentRuleNotFound(NotFound):
    code = "content-rule-not-found"
    title = "No such content rule"


class CannotManageRules(Forbidden):
    code = "cannot-manage-content-rules"
    title = "You may not manage content rules here"


class InvalidContentRule(AppError):
    code = "invalid-content-rule"
    title = "The content rule is not valid"
    status = 422

