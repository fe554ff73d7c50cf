from app.errors import Conflict, NotFound


class BrandNotFound(NotFound):
    code = "brand-not-found"
    title = "No such brand"


class BrandNameTaken(Conflict):
    code = "brand-name-taken"
    title = "Another brand has this name"
