from app.errors import NotFound


class TokenNotFound(NotFound):
    code = "token-not-found"
    title = "No such token"
