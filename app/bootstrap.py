"""Start-up recovery: when nobody can administer, (re)make the bootstrap admin and its token.

Idempotent and recoverable from any state: it runs on every start, does nothing while some
admin can still work (an active user with a live admin grant and a live admin-scoped token,
or an admin-scoped service token), and otherwise brings back ``admin@socialgov.local`` —
reactivated if it was suspended or offboarded, a live admin grant, and a token. With
``SOCIALGOV_BOOTSTRAP_TOKEN`` that token is the configured secret, restored in place when a
row with that secret exists already (revoked, expired, its owner offboarded ...): a restart
with the deployment's configured token always gets the operator back in.
"""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import service as access_service
from app.access.policy import Role
from app.errors import ValidationFailed
from app.security import SYSTEM, TOKEN_PREFIX, Scope
from app.tokens import service as tokens_service
from app.users import service as users_service

BOOTSTRAP_EMAIL = "admin@socialgov.local"
REASON = "bootstrap: nobody could administer socialgov"


def check_bootstrap_token(token: str | None) -> None:
    if token is not None and (not token.startswith(TOKEN_PREFIX) or len(token) < 24 or len(token) > 200):
        raise ValidationFailed(f"SOCIALGOV_BOOTSTRAP_TOKEN must start with {TOKEN_PREFIX!r} and be 24-200 chars.")


async def bootstrap_admin(session: AsyncSession, token: str | None = None) -> str | None:
    """Returns the admin token it made or restored, or None when an admin can still work.
    Several replicas starting at once: the admin lock (the one every admin removal takes)
    lets one decide."""
    check_bootstrap_token(token)
    await access_service.lock_admins(session)
    if await access_service.working_admin_exists(session):
        return None
    user = await users_service.find_by_email(session, BOOTSTRAP_EMAIL)
    if user is None:
        user = await users_service.create_user(session, SYSTEM, {
            "email": BOOTSTRAP_EMAIL, "display_name": "Bootstrap admin", "kind": "employee",
        })
    elif user.status != "active":
        user = await users_service.update_user(session, SYSTEM, user.id, {"status": "active"}, reason=REASON)
    if not await access_service.holds_live_admin(session, user.id):
        await access_service.create_grant(session, SYSTEM, access_service.GrantRequest(
            user_id=user.id, role=Role.admin, account_id=None, brand_id=None, expires_at=None, reason=REASON))
    if token is not None and await tokens_service.restore_token(session, SYSTEM, token, user_id=user.id,
                                                                scopes=[Scope.admin], reason=REASON):
        return token
    made = await tokens_service.create_token(session, SYSTEM, user_id=user.id, service_name=None,
                                             scopes=[Scope.admin], name="bootstrap", secret=token)
    return made.secret
