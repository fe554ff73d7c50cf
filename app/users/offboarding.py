"""Ending someone's access: suspension, and offboarding — one use case that PATCH /v1/users/{id}
calls today and the HR events and SCIM deprovisioning call next.

Suspending revokes every grant and token at once (reinstating brings none back). Offboarding
does that, flags the accounts they owned (``needs_owner``) or held the credentials of
(``credentials_rotation_required``), and sets their posts aside (app/posts/moves.py): drafts and
posts in review withdrawn, scheduled ones paused (``author_offboarded``). Every record it
writes carries one correlation id, so the audit shows all it did as one.

Set-based, whatever the number of grants: one statement revokes every live grant and writes
one bulk ``grants.revoked`` record over the user naming them all (``subject_ids``, ``count``,
the reason), one does the same for tokens (``tokens.revoked``), one flags the accounts (an
``account.flagged`` record per account, naming the flags it turned on), and the posts are set
aside by one bulk record per statement. The caller's record of the user
(``user.offboarded`` / ``user.suspended``) names every id revoked and account flagged.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import context
from app.access import service as access_service
from app.accounts import service as accounts_service
from app.posts import moves as post_moves
from app.security import Principal
from app.tokens import service as tokens_service

ENDS_ACCESS = frozenset({"suspended", "offboarded"})


def correlation(correlation_id: str | None = None) -> str:
    """The id every record of one offboarding carries: the caller's (an HR event's id), the
    request's correlation id, or a new one."""
    return correlation_id or context.correlation_id.get() or f"offboarding:{uuid.uuid4()}"


async def end_access(session: AsyncSession, principal: Principal, user_id: uuid.UUID, status: str, *,
                     reason: str, correlation_id: str) -> dict[str, Any]:
    """Everything ``status`` (suspended or offboarded) ends, done; returns what was done."""
    assert status in ENDS_ACCESS
    grants = await access_service.revoke_all_for_user(session, principal, user_id, reason=reason,
                                                      correlation_id=correlation_id)
    tokens = await tokens_service.revoke_all_for_user(session, principal, user_id, reason=reason,
                                                      correlation_id=correlation_id)
    effects: dict[str, Any] = {"revoked_grant_ids": grants, "revoked_token_ids": tokens}
    if status == "offboarded":
        flagged = await accounts_service.flag_for_leaver(session, principal, user_id, correlation_id=correlation_id)
        effects["flagged_account_ids"] = [a.id for a in flagged]
        posts = await post_moves.set_aside_authored(session, principal, user_id, correlation_id=correlation_id)
        effects.update(withdrawn_posts=posts["withdrawn"], paused_posts=posts["paused"])
    return effects
