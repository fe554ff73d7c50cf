from app.errors import Conflict, Forbidden, NotFound


class CrisisNotFound(NotFound):
    code = "crisis-not-found"
    title = "No such crisis"


class CrisisAlreadyResolved(Conflict):
    code = "crisis-already-resolved"
    title = "The crisis is already resolved"


class CannotDeclare(Forbidden):
    code = "cannot-declare"
    title = "Only crisis leads and admins declare or resolve crises"


class CrisisActive(Conflict):
    code = "crisis-active"
    title = "A crisis is active here"


class BlackoutWindow(Conflict):
    code = "blackout-window"
    title = "That time falls in a blackout window"
