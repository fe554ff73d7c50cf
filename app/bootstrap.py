"""First start: when no admin exists, create one and hand out its token once."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import service as access_service
from app.access.policy import Role
from app.errors import ValidationFailed
from app.security import SYSTEM, TOKEN_PREFIX, Scope
from app.tokens import service as tokens_service
from app.users import service as users_service

BOOTSTRAP_EMAIL = "admin@socialgov.local"


async def bootstrap_admin(session: AsyncSession, token: str | None = None) -> str | None:
    """Returns the new admin token, or None when an admin already exists.
    Several replicas starting at once: one transaction advisory lock decides."""
    await session.execute(text("SELECT pg_advisory_xact_lock(7235190417235002)"))
    if await tokens_service.admin_exists(session):
        return None
    if token is not None and (not token.startswith(TOKEN_PREFIX) or len(token) < 24 or len(token) > 200):
        raise ValidationFailed(f"SOCIALGOV_BOOTSTRAP_TOKEN must start with {TOKEN_PREFIX!r} and be 24-200 chars.")
    user = await users_service.find_by_email(session, BOOTSTRAP_EMAIL)
    if user is None:
        user = await users_service.create_user(session, SYSTEM, {
            "email": BOOTSTRAP_EMAIL, "display_name": "Bootstrap admin", "kind": "employee",
        })
    elif user.status != "active":
        user = await users_service.update_user(session, SYSTEM, user.id, {"status": "active"},
                                               reason="bootstrap: no active admin")
    await access_service.create_grant(session, SYSTEM, access_service.GrantRequest(
        user_id=user.id, role=Role.admin, account_id=None, brand_id=None, expires_at=None,
        reason="bootstrap: first start, no admin existed"))
    made = await tokens_service.create_token(session, SYSTEM, user_id=user.id, service_name=None,
                                             scopes=[Scope.admin], name="bootstrap", secret=token)
    return made.secret

