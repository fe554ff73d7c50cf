"""Brands: business units that own accounts."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import service as access_service
from app.access.policy import Role
from app.approvals import service as approvals_service
from app.audit import service as audit
from app.brands import repository
from app.brands.errors import BrandNameTaken, BrandNotFound
from app.errors import ConcurrentUpdate, Forbidden, PreconditionFailed
from app.models import Brand
from app.pagination import PageParams, cursor_after

SNAPSHOT = ("name", "description", "approval_policy_id")


def snapshot(b: Brand) -> dict[str, Any]:
    return {f: getattr(b, f) for f in SNAPSHOT}


async def create_brand(session: AsyncSession, principal, data: dict[str, Any]) -> Brand:
    access = await access_service.effective_access(session, principal)
    if not (access.admin or access.has_role(Role.account_admin) and access.sees_everything):
        raise Forbidden("Only admins and organisation account admins create brands.")
    brand = await repository.insert_brand(session, {"id": uuid.uuid4(), **data})
    if brand is None:
        raise BrandNameTaken("Another brand has this name.", pointer="#/name")
    await audit.record(session, principal, "brand.created", "brand", brand.id, after=snapshot(brand))
    return brand


async def get_brand(session: AsyncSession, principal, brand_id: uuid.UUID) -> Brand:
    access = await access_service.effective_access(session, principal)
    brand = await repository.get_brand(session, brand_id)
    if brand is None or not access.sees_brand(brand_id):
        raise BrandNotFound("No such brand.")
    return brand


async def list_brands(session: AsyncSession, principal, page: PageParams) -> list[Brand]:
    access = await access_service.effective_access(session, principal)
    visible = None if access.sees_everything else (access.visible_brand_ids, access.visible_account_ids)
    return await repository.list_brands(session, visible, cursor_after(page), page.limit + 1)


async def update_brand(session: AsyncSession, principal, brand_id: uuid.UUID, changes: dict[str, Any],
                       *, expected_version: int | None = None) -> Brand:
    await get_brand(session, principal, brand_id)  # visibility first: 404 before 403
    access = await access_service.effective_access(session, principal)
    # The policy is governance (admins, compliance); everything else is brand administration.
    if "approval_policy_id" in changes:
        await approvals_service.check_attach(session, access, changes["approval_policy_id"])
    if set(changes) - {"approval_policy_id"} and not access.has_role(Role.account_admin, brand_id=brand_id):
        raise Forbidden("Only an account admin of this brand, or an admin, changes it.")
    brand = await repository.get_brand(session, brand_id, for_update=True)
    if expected_version is not None and expected_version != brand.version:
        raise PreconditionFailed(f"The brand is at version {brand.version}, not {expected_version}.",
                                 current_version=brand.version)
    changes = {k: v for k, v in changes.items() if getattr(brand, k) != v}
    if not changes:
        return brand
    before = snapshot(brand)
    updated = await repository.update_brand(session, brand_id, brand.version, changes)
    if updated is repository.UNIQUE_VIOLATION:
        raise BrandNameTaken("Another brand has this name.", pointer="#/name")
    if updated is None:
        raise ConcurrentUpdate("The brand changed while this request ran; read it again and retry.")
    await audit.record(session, principal, "brand.updated", "brand", brand_id, before=before,
                       after=snapshot(updated))
    return updated


