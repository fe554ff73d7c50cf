"""Accounts: the official social media accounts the company speaks through."""
from __future__ import annotations

import uuid
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import service as access_service
from app.access.errors import UserNotActive
from app.access.policy import Access, Role
from app.accounts import repository
from app.accounts.errors import AccountNotFound, HandleTaken
from app.approvals import service as approvals_service
from app.audit import service as audit
from app.errors import ConcurrentUpdate, Forbidden, NotFound, PreconditionFailed
from app.models import Account
from app.pagination import PageParams, cursor_after
from app.security import Principal

SNAPSHOT = ("platform", "handle", "display_name", "brand_id", "region", "owner_id", "status",
            "two_factor_enabled", "credential_custodian_id", "needs_owner", "credentials_rotation_required",
            "approval_policy_id")


def snapshot(a: Account) -> dict[str, Any]:
    return {f: getattr(a, f) for f in SNAPSHOT}


async def _check_people(session: AsyncSession, data: dict[str, Any]) -> None:
    for field in ("owner_id", "credential_custodian_id"):
        if data.get(field) is None:
            continue
        status = await repository.user_status(session, data[field])
        if status is None:
            raise NotFound("No such user.", pointer=f"#/{field}")
        if status != "active":
            raise UserNotActive(f"The user named in {field} is {status}.", pointer=f"#/{field}")


async def create_account(session: AsyncSession, principal: Principal, data: dict[str, Any]) -> Account:
    access = await access_service.effective_access(session, principal)
    brand_id = data["brand_id"]
    if not await repository.brand_exists(session, brand_id) or not access.sees_brand(brand_id):
        raise NotFound("No such brand.", pointer="#/brand_id")
    if not access.has_role(Role.account_admin, brand_id=brand_id):
        raise Forbidden("Only an account admin of the brand, or an admin, adds accounts to it.")
    await _check_people(session, data)
    values = {"id": uuid.uuid4(), **data, "needs_owner": data.get("owner_id") is None}
    account = await repository.insert_account(session, values)
    if account is None:
        raise HandleTaken(f"{data['platform']} already has an account with this handle.", pointer="#/handle")
    await audit.record(session, principal, "account.created", "account", account.id, after=snapshot(account))
    return account


async def _visible(session: AsyncSession, access: Access, account_id: uuid.UUID, *, lock: bool = False) -> Account:
    account = await repository.get_account(session, account_id, for_update=lock)
    if account is None or not access.sees(account.brand_id, account.id):
        raise AccountNotFound("No such account.")
    return account


class AccountFacts(NamedTuple):
    """What posts and content checks need of an account, whoever asks."""
    brand_id: uuid.UUID
    platform: str


async def facts(session: AsyncSession, account_id: uuid.UUID) -> AccountFacts | None:
    """Unscoped: for callers that decide visibility themselves (a post's account)."""
    row = await repository.facts(session, account_id)
    return AccountFacts(row[0], row[1]) if row else None


async def get_account(session: AsyncSession, principal: Principal, account_id: uuid.UUID) -> Account:
    return await _visible(session, await access_service.effective_access(session, principal), account_id)


async def list_accounts(session: AsyncSession, principal: Principal, *, page: PageParams, **filters) -> list[Account]:
    access = await access_service.effective_access(session, principal)
    visible = None if access.sees_everything else (access.visible_brand_ids, access.visible_account_ids)
    return await repository.list_accounts(session, visible, after=cursor_after(page), limit=page.limit + 1,
                                          **filters)


async def update_account(session: AsyncSession, principal: Principal, account_id: uuid.UUID,
                         changes: dict[str, Any], *, expected_version: int | None = None) -> Account:
    access = await access_service.effective_access(session, principal)
    account = await _visible(session, access, account_id, lock=True)
    # The policy is governance (admins, compliance); everything else is account administration.
    if "approval_policy_id" in changes:
        await approvals_service.check_attach(session, access, changes["approval_policy_id"])
    if set(changes) - {"approval_policy_id"} and not access.has_role(
            Role.account_admin, brand_id=account.brand_id, account_id=account_id):
        raise Forbidden("Only an account admin of this account, or an admin, changes it.")
    if expected_version is not None and expected_version != account.version:
        raise PreconditionFailed(f"The account is at version {account.version}, not {expected_version}.",
                                 current_version=account.version)
    await _check_people(session, changes)
    if changes.get("owner_id") is not None and "needs_owner" not in changes:
        changes["needs_owner"] = False  # a new active owner answers the flag
    changes = {k: v for k, v in changes.items() if getattr(account, k) != v}
    if not changes:
        return account
    before = snapshot(account)
    updated = await repository.update_account(session, account_id, account.version, changes)
    if updated is repository.UNIQUE_VIOLATION:
        raise HandleTaken(f"{account.platform} already has an account with this handle.", pointer="#/handle")
    if updated is None:
        raise ConcurrentUpdate("The account changed while this request ran; read it again and retry.")
    await audit.record(session, principal, "account.updated", "account", account_id, before=before,
                       after=snapshot(updated))
    return updated


async def flag_for_leaver(session: AsyncSession, principal: Principal, user_id: uuid.UUID,
                          *, correlation_id: str | None = None) -> list[Account]:
    flagged = await repository.flag_for_leaver(session, user_id)
    await audit.record_many(session, principal, [
        audit.Entry("account.flagged", "account", a.id, before={k: False for k in flags}, after=flags)
        for a, flags in flagged
    ], correlation_id=correlation_id)
    return [a for a, _ in flagged]
