"""Crisis mode: declare (freeze), preview, blackout windows, resolve.

The guarantee: once ``declare`` has returned, nothing in scope is published. Declaring takes
the exclusive side of the publish fence (app/fence.py) before its set-based freeze, so every
publish in flight finishes first (and is listed), and every later one sees its post paused.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import clock, fence
from app.access import service as access_service
from app.access.policy import Access, Role
from app.audit import service as audit
from app.crises import repository
from app.crises.errors import BlackoutWindow, CannotDeclare, CrisisActive, CrisisAlreadyResolved, CrisisNotFound
from app.errors import NotFound, ValidationFailed
from app.models import Crisis, CrisisEvent
from app.pagination import PageParams, cursor_after
from app.posts import moves as post_moves
from app.security import Principal, PrincipalKind


@dataclass
class Declaration:
    severity: int
    scope_kind: str
    brand_ids: list[uuid.UUID]
    account_ids: list[uuid.UUID]
    reason: str
    responders: list[uuid.UUID]
    starts_at: datetime | None
    ends_at: datetime | None


def covers(crisis: Crisis, account_id: uuid.UUID, brand_id: uuid.UUID | None) -> bool:
    return (crisis.scope_kind == "organization" or account_id in (crisis.account_ids or [])
            or (brand_id is not None and brand_id in (crisis.brand_ids or [])))


def in_force(crisis: Crisis, now: datetime) -> bool:
    return crisis.status == "active" or (crisis.status == "scheduled" and crisis.starts_at is not None
                                         and crisis.starts_at <= now)


def is_responder(access: Access, principal: Principal, crisis: Crisis) -> bool:
    return access.admin or access.has_role(Role.crisis_lead) or (
        principal.is_user and principal.id in (crisis.responders or []))


async def _authorise(session: AsyncSession, principal: Principal) -> Access:
    """Users: crisis leads and admins. Services: their crisis:* scope (checked on the route)."""
    access = await access_service.effective_access(session, principal)
    if principal.kind is PrincipalKind.user and not (access.admin or access.has_role(Role.crisis_lead)):
        raise CannotDeclare("Only crisis leads and admins declare and resolve crises.")
    return access


async def _validate(session: AsyncSession, d: Declaration) -> None:
    """Every id named exists (nothing is asked of the database for a list that is empty), and a
    window's end is ahead."""
    for field, table, what, ids in (("scope/brand_ids", "brands", "brand", d.brand_ids),
                                    ("scope/account_ids", "accounts", "account", d.account_ids),
                                    ("responders", "users", "user", d.responders)):
        if not ids:
            continue
        found = await repository.existing(session, table, ids)
        for i, x in enumerate(ids):
            if x not in found:
                raise NotFound(f"No such {what} {x}.", pointer=f"#/{field}/{i}")
    if d.ends_at is not None and d.ends_at <= await clock.wall_clock(session):
        raise ValidationFailed("ends_at must be in the future.", pointer="#/ends_at")


def _scope(d: Declaration) -> dict[str, Any]:
    return {"scope_kind": d.scope_kind, "brand_ids": d.brand_ids, "account_ids": d.account_ids}


async def preview(session: AsyncSession, principal: Principal, d: Declaration) -> int:
    await _authorise(session, principal)
    await _validate(session, d)
    starts = d.starts_at if d.starts_at and d.starts_at > await clock.wall_clock(session) else None
    return await post_moves.count_freezable(session, d.scope_kind,
                                            post_moves.scope_params(d.brand_ids, d.account_ids), (starts, d.ends_at))


def _post_scope(crisis: Crisis) -> dict[str, Any]:
    return post_moves.scope_params(crisis.brand_ids, crisis.account_ids)


async def _freeze(session: AsyncSession, principal: Principal, crisis: Crisis, window) -> int:
    return await post_moves.freeze(session, crisis.id, crisis.scope_kind, _post_scope(crisis),
                                   _pause_audit(principal, crisis.id), window)


def _pause_audit(principal: Principal, crisis_id: uuid.UUID):
    """One bulk record per freeze statement, naming every post it paused (app/audit)."""
    def for_status(old_status: str) -> tuple[str, dict[str, Any]]:
        return audit.bulk_insert_from(
            "paused", actor=principal, action="posts.paused", subject_type="crisis", subject_id=crisis_id,
            subjects_type="post", id_expr="id", before={"status": old_status},
            after_expr=f"jsonb_build_object('status', 'paused', 'crisis_id', '{crisis_id}')",
            correlation_id=str(crisis_id))
    return for_status


async def declare(session: AsyncSession, principal: Principal, d: Declaration) -> tuple[Crisis, list[uuid.UUID]]:
    await _authorise(session, principal)
    await _validate(session, d)
    started = await clock.wall_clock(session)
    immediate = d.starts_at is None or d.starts_at <= started
    crisis_id = uuid.uuid4()
    # Waits for every publish and schedule in flight; those that start now wait for this
    # commit. A window ahead takes it too: a post scheduled into the window meanwhile is
    # either frozen by it or refused.
    await fence.take_exclusive(session)
    crisis = await repository.insert_crisis(session, {
        "id": crisis_id, "severity": d.severity, **_scope(d), "reason": d.reason, "responders": d.responders,
        "status": "active" if immediate else "scheduled", "starts_at": d.starts_at, "ends_at": d.ends_at,
        "declared_by_kind": str(principal.kind), "declared_by_id": principal.id,
        "activated_at": await clock.wall_clock(session) if immediate else None,
    })
    # A crisis holds the slots before its end (ends_at; none: all of them). A window ahead
    # pauses, now, what is already scheduled inside it; what falls due before then freezes
    # at starts_at.
    window = (None if immediate else d.starts_at, d.ends_at)
    paused = await _freeze(session, principal, crisis, window)
    in_flight = await post_moves.published_since(session, crisis.scope_kind, _post_scope(crisis),
                                                 started) if immediate else []
    crisis = await repository.update_crisis(session, crisis_id, {"paused_count": paused})
    detail = {"paused": paused, "in_flight_published": [str(i) for i in in_flight], "severity": d.severity,
              "window": not immediate}
    await repository.add_event(session, crisis_id, "declared" if immediate else "window_declared",
                               str(principal.kind), principal.id, detail)
    await audit.record(session, principal, "crisis.declared", "crisis", crisis_id, after={
        **_scope(d), "severity": d.severity, "reason": d.reason, "status": crisis.status, "paused": paused,
        "starts_at": d.starts_at, "ends_at": d.ends_at, "responders": d.responders})
    return crisis, in_flight


async def activate_window(session: AsyncSession, principal: Principal, crisis_id: uuid.UUID) -> int | None:
    """Worker: a blackout window's start. Freezes like any declaration: every slot before
    its end (one after it would not go out during the window, and keeps its approval)."""
    crisis = await repository.get_crisis(session, crisis_id, for_update=True)
    if crisis is None or crisis.status != "scheduled":
        return None
    await fence.take_exclusive(session)
    paused = await _freeze(session, principal, crisis, (None, crisis.ends_at))
    now = await clock.wall_clock(session)
    await repository.update_crisis(session, crisis_id, {"status": "active", "activated_at": now,
                                                        "paused_count": crisis.paused_count + paused})
    await repository.add_event(session, crisis_id, "window_started", str(principal.kind), principal.id,
                               {"paused": paused})
    await audit.record(session, principal, "crisis.activated", "crisis", crisis_id,
                       before={"status": "scheduled"}, after={"status": "active", "paused": paused})
    return paused


async def resolve(session: AsyncSession, principal: Principal, crisis_id: uuid.UUID, resolution: str,
                  note: str | None, *, authorised: bool = False) -> tuple[Crisis, dict[str, int]]:
    if not authorised:
        await _authorise(session, principal)
    # Posts put back on schedule must not slip past a declaration running beside this one.
    await fence.take_exclusive(session)
    crisis = await repository.get_crisis(session, crisis_id, for_update=True)
    if crisis is None:
        raise CrisisNotFound("No such crisis.")
    if crisis.status == "resolved":
        raise CrisisAlreadyResolved("The crisis is already resolved.", resolution=crisis.resolution)
    # Another crisis still in force over some of these posts keeps holding them.
    # Posts going back on schedule into a window ahead stay paused, held by that window.
    handed_audit = audit.bulk_insert_from(
        "handed", actor=principal, action="posts.handed_over", subject_type="crisis", subject_id=crisis_id,
        subjects_type="post", id_expr="id", before={"status": "paused", "crisis_id": str(crisis_id)},
        after_expr="jsonb_build_object('status', 'paused', 'crisis_id', crisis_id)", group_by="crisis_id",
        correlation_id=str(crisis_id))
    held = await post_moves.hand_over(session, crisis_id, handed_audit, windows_ahead=resolution == "resume")
    # One record per outcome (status), naming its posts; each post keeps its own slot.
    counts = await post_moves.release(session, crisis_id, resolution, audit.bulk_insert_from(
        "released", actor=principal, action="posts.released", subject_type="crisis", subject_id=crisis_id,
        subjects_type="post", id_expr="id", before={"status": "paused"},
        after_expr=f"jsonb_build_object('status', status, 'resolution', '{resolution}')", group_by="status",
        correlation_id=str(crisis_id)))
    counts = {**{k: 0 for k in _OUTCOMES[resolution]}, **counts, "still_paused": held}
    now = await clock.wall_clock(session)
    resolved = await repository.update_crisis(session, crisis_id, {
        "status": "resolved", "resolved_at": now, "resolved_by_kind": str(principal.kind),
        "resolved_by_id": principal.id, "resolution": resolution, "resolution_note": note, "outcome": counts})
    await repository.add_event(session, crisis_id, "resolved", str(principal.kind), principal.id,
                               {"resolution": resolution, "note": note, "counts": counts})
    await audit.record(session, principal, "crisis.resolved", "crisis", crisis_id, before={"status": crisis.status},
                       after={"status": "resolved", "resolution": resolution, "counts": counts, "note": note})
    return resolved, counts


_OUTCOMES = {"review": ("review",), "resume": ("resumed", "unscheduled"), "cancel": ("cancelled",)}


async def run_windows(session: AsyncSession, principal: Principal) -> tuple[int, int]:
    """Worker: switch on windows that began, resolve (review) those that ended."""
    if not await repository.any_window_due(session):
        return 0, 0
    await fence.take_exclusive(session)  # before the crisis rows: the order resolve and declare use
    starting, ending = await repository.due_windows(session)
    for crisis_id in starting:
        await activate_window(session, principal, crisis_id)
    for crisis_id in ending:
        await resolve(session, principal, crisis_id, "review", "blackout window ended", authorised=True)
    return len(starting), len(ending)


# --- reading ------------------------------------------------------------------------------

async def _readable(session: AsyncSession, principal: Principal) -> Readable | None:
    """Whose crises this caller may read: None for everything (admins, organisation-wide
    grants such as crisis leads, every service), else the brands and accounts it sees (a grant on
    one account shows the crises over its brand too). A crisis's reason and responders are
    not for an agency that holds one account of another brand."""
    return await _readable_of(session, await access_service.effective_access(session, principal))


Readable = tuple[set[uuid.UUID], set[uuid.UUID], set[uuid.UUID]]


async def _readable_of(session: AsyncSession, access: Access) -> Readable | None:
    """(brands whose brand-wide crises it sees, brands it holds a grant on, accounts it holds
    a grant on); None: every crisis."""
    if access.sees_everything or access.service:  # a crisis:* service (monitoring, on-call) sees them all
        return None
    accounts = access.visible_account_ids
    of_accounts = set((await repository.account_brands(session, list(accounts))).values())
    return access.visible_brand_ids | of_accounts, access.visible_brand_ids, accounts


async def _covers_readable(session: AsyncSession, crisis: Crisis, readable: Readable | None) -> bool:
    """Organisation-wide crises; brand crises over a brand it holds anything in; account
    crises over its accounts or the accounts of a brand it holds (not a sibling account)."""
    if readable is None or crisis.scope_kind == "organization":
        return True
    brand_wide, brands, accounts = readable
    if set(crisis.brand_ids or []) & brand_wide or set(crisis.account_ids or []) & accounts:
        return True
    if crisis.scope_kind != "accounts" or not brands:
        return False
    return bool(set((await repository.account_brands(session, list(crisis.account_ids or []))).values()) & brands)


async def get_crisis(session: AsyncSession, principal: Principal,
                     crisis_id: uuid.UUID) -> tuple[Crisis, list[CrisisEvent]]:
    """404 for a crisis over nothing the caller sees, as for anything it cannot see."""
    crisis = await repository.get_crisis(session, crisis_id)
    if crisis is None or not await _covers_readable(session, crisis, await _readable(session, principal)):
        raise CrisisNotFound("No such crisis.")
    return crisis, await repository.timeline(session, crisis_id)


async def timeline(session: AsyncSession, crisis_id: uuid.UUID) -> list[CrisisEvent]:
    return await repository.timeline(session, crisis_id)


async def list_crises(session: AsyncSession, principal: Principal, *, status: list[str] | None,
                      page: PageParams) -> list[Crisis]:
    return await repository.list_crises(session, status=status, after=cursor_after(page), limit=page.limit + 1,
                                        readable=await _readable(session, principal))


def in_force_ids_sql(account: str, brand: str) -> str:
    """The crises in force over a post's account, as an SQL expression the posts domain puts in
    the statement that reads the post (one round trip for a read)."""
    return repository.in_force_ids_sql(account, brand)


async def in_force_for(session: AsyncSession, account_id: uuid.UUID, brand_id: uuid.UUID) -> list[Crisis]:
    return await repository.in_force_for(session, account_id, brand_id)


async def now(session: AsyncSession) -> datetime:
    return await clock.wall_clock(session)


async def visible_in_force(session: AsyncSession, access: Access) -> list[Crisis]:
    """Crises in force over anything this caller can see (for /v1/me and post responses)."""
    now_ = await clock.wall_clock(session)
    crises = [c for c in await repository.open_crises(session) if in_force(c, now_)]
    readable = await _readable_of(session, access)
    return [c for c in crises if await _covers_readable(session, c, readable)]


async def check_schedulable(session: AsyncSession, account_id: uuid.UUID, brand_id: uuid.UUID,
                            when: datetime) -> None:
    """Nothing is scheduled while a crisis holds the account, nor into a window ahead."""
    # A crisis with an end holds only the slots before it.
    holding = [c for c in await repository.in_force_for(session, account_id, brand_id)
               if c.ends_at is None or when < c.ends_at]
    if holding:
        raise CrisisActive("A crisis is active on this account: nothing is scheduled, posts go out by hand.",
                           crisis_ids=[str(c.id) for c in holding])
    windows = await repository.windows_at(session, account_id, brand_id, when)
    if windows:
        w = windows[0]
        raise BlackoutWindow(
            f"{when.isoformat()} falls in a blackout window ({w.starts_at.isoformat() if w.starts_at else ''} – "
            f"{w.ends_at.isoformat() if w.ends_at else 'open-ended'}).", crisis_id=str(w.id),
            pointer="#/scheduled_at")
