"""Users: the people who speak for the company (employees and agency members)."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import service as access_service
from app.access.policy import Access
from app.audit import service as audit
from app.errors import ConcurrentUpdate, Forbidden, PreconditionFailed
from app.models import User
from app.pagination import PageParams, cursor_after
from app.security import Principal
from app.users import offboarding, repository
from app.users.errors import EmailTaken, ExternalIdTaken, UserNotFound

SNAPSHOT = ("email", "external_id", "display_name", "kind", "status", "training_valid_until")
# Leaving or being suspended ends access; coming back does not silently restore it.
ENDS_ACCESS = offboarding.ENDS_ACCESS


def snapshot(user: User) -> dict[str, Any]:
    return {f: getattr(user, f) for f in SNAPSHOT}


def sees_directory(access: Access) -> bool:
    return access.administers_anything or access.org_ladder is not None


async def create_user(session: AsyncSession, principal: Principal, data: dict[str, Any]) -> User:
    access = await access_service.effective_access(session, principal)
    if not access.administers_anything:
        raise Forbidden("Only admins and account admins add users.")
    values = {"id": uuid.uuid4(), "status": "active", **data}
    user = await repository.insert_user(session, values)
    if user is None:
        await _raise_taken(session, data)
    await audit.record(session, principal, "user.created", "user", user.id, after=snapshot(user))
    return user


async def _raise_taken(session: AsyncSession, data: dict[str, Any], except_id=None):
    if data.get("email") and await repository.email_taken(session, data["email"], except_id):
        raise EmailTaken("Another user has this email.", pointer="#/email")
    raise ExternalIdTaken("Another user has this external_id.", pointer="#/external_id")


async def get_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User:
    if not (principal.is_user and principal.id == user_id):
        access = await access_service.effective_access(session, principal)
        if not sees_directory(access):
            raise UserNotFound("No such user.")
    user = await repository.get_user(session, user_id)
    if user is None:
        raise UserNotFound("No such user.")
    return user


async def _user_to_change(session: AsyncSession, principal: Principal, access: Access, user_id: uuid.UUID) -> User:
    """The user, locked, for an admin; 404 before 403 for anyone else. An admin sees the
    directory, so one locking read does for both the visibility and the lock."""
    if not access.admin:
        await get_user(session, principal, user_id)  # visibility first: 404 before 403
        raise Forbidden("Only admins change users.")
    user = await repository.get_user(session, user_id, for_update=True)
    if user is None:
        raise UserNotFound("No such user.")
    return user


async def list_users(session: AsyncSession, principal: Principal, *, status: str | None, q: str | None,
                     page: PageParams) -> list[User]:
    access = await access_service.effective_access(session, principal)
    only = None if sees_directory(access) else (principal.id if principal.is_user else uuid.UUID(int=0))
    after = cursor_after(page)
    return await repository.list_users(session, only_id=only, status=status, q=q, after=after,
                                       limit=page.limit + 1)


async def update_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID, changes: dict[str, Any],
                      *, expected_version: int | None = None, reason: str | None = None,
                      correlation_id: str | None = None) -> User:
    access = await access_service.effective_access(session, principal)  # once for the whole change
    user = await _user_to_change(session, principal, access, user_id)
    if expected_version is not None and expected_version != user.version:
        raise PreconditionFailed(f"The user is at version {user.version}, not {expected_version}.",
                                 current_version=user.version)
    changes = {k: v for k, v in changes.items() if getattr(user, k) != v}
    if not changes:
        return user
    if "status" in changes:
        changes["status_changed_at"] = repository.NOW  # the transaction's time, stamped by the update itself
    ending = changes.get("status") in ENDS_ACCESS
    was_admin = ending and await access_service.holds_live_admin(session, user_id)
    before = snapshot(user)
    updated = await repository.update_user(session, user_id, user.version, changes)
    if updated is repository.UNIQUE_VIOLATION:
        await _raise_taken(session, changes, except_id=user_id)
    if updated is None:
        raise ConcurrentUpdate("The user changed while this request ran; read it again and retry.")
    effects: dict[str, Any] = {}
    cid = offboarding.correlation(correlation_id) if ending else correlation_id
    if ending:
        effects = await offboarding.end_access(session, principal, user_id, changes["status"],
                                               reason=reason or f"user {changes['status']}", correlation_id=cid)
        if was_admin:
            await access_service.require_working_admin(
                session, f"{'Offboarding' if changes['status'] == 'offboarded' else 'Suspending'} this admin")
    await audit.record(session, principal, _status_action(before["status"], updated.status), "user", user_id,
                       before=before, after={**snapshot(updated), **effects}, correlation_id=cid)
    return updated


def _status_action(old: str, new: str) -> str:
    """What happened to the person, not just that a row changed: offboarding is the anchor the
    HR events link their revocations to."""
    if old == new:
        return "user.updated"
    if new in ENDS_ACCESS:
        return f"user.{new}"
    return "user.reinstated" if old in ENDS_ACCESS else "user.updated"


async def find_by_email(session: AsyncSession, email: str) -> User | None:
    return await repository.find_by_email(session, email)
