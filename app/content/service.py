"""Content rules and checks.

Other domains call ``check_post`` (no principal: the caller authorised the post) and get
a ``CheckResult``; ``app.content.checks`` holds the pure rules themselves.

Who manages rules: an admin, a holder of the organisation's ``compliance`` role, or an
``account_admin`` of the rule's scope (an account, a brand, or — for organisation-wide
rules — the organisation). Everyone who sees a brand or an account sees the rules that
apply to it; organisation rules are visible to every caller.
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import service as access_service
from app.access.policy import Access, Role
from app.accounts import service as accounts_service
from app.accounts.errors import AccountNotFound
from app.audit import service as audit
from app.brands import service as brands_service
from app.brands.errors import BrandNotFound
from app.content import checks, repository
from app.content.errors import CannotManageRules, ContentRuleNotFound, InvalidContentRule
from app.models import ContentRule
from app.pagination import PageParams, cursor_after
from app.security import Principal

SNAPSHOT = ("kind", "terms", "severity", "account_id", "brand_id", "platforms", "max_length", "label",
            "description", "deleted_at")
TERMS_REQUIRED = (*checks.TERM_KINDS, "link_allowlist")


def snapshot(rule: ContentRule) -> dict[str, Any]:
    return {f: getattr(rule, f) for f in SNAPSHOT}


# --- validation ---------------------------------------------------------------------------

def validate_rule(data: dict[str, Any]) -> dict[str, Any]:
    """The rule's fields checked against its kind and normalised (duplicate terms dropped,
    domains lower-cased). Raises InvalidContentRule with a pointer at the offending field."""
    kind = data["kind"]
    terms: list[str] = list(data.get("terms") or [])
    if data.get("account_id") is not None and data.get("brand_id") is not None:
        raise InvalidContentRule("Give account_id or brand_id, not both (neither = organisation-wide).",
                                 pointer="#/brand_id")
    if kind in TERMS_REQUIRED and not terms:
        what = "allowed domains" if kind == "link_allowlist" else "terms"
        raise InvalidContentRule(f"A {kind} rule needs at least one of its {what} in terms.", pointer="#/terms")
    for i, term in enumerate(terms):
        if not checks.fold_term(term):
            raise InvalidContentRule("A term must contain something visible.", pointer=f"#/terms/{i}")
    if kind == "link_allowlist":
        for i, term in enumerate(terms):
            domain = checks.normalise_domain(term)
            if domain is None:
                raise InvalidContentRule(f'"{term}" is not a domain name (write acme.com, not a URL).',
                                         pointer=f"#/terms/{i}")
            terms[i] = domain
    if kind == "personal_data":
        for i, term in enumerate(terms):
            terms[i] = term.casefold()
            if terms[i] not in checks.PERSONAL_DATA_CATEGORIES:
                raise InvalidContentRule(f"personal_data terms name categories: "
                                         f"{', '.join(checks.PERSONAL_DATA_CATEGORIES)}.", pointer=f"#/terms/{i}")
    if kind == "max_length":
        if data.get("max_length") is None:
            raise InvalidContentRule("A max_length rule needs max_length.", pointer="#/max_length")
        if terms:
            raise InvalidContentRule("A max_length rule takes no terms.", pointer="#/terms")
    elif data.get("max_length") is not None:
        raise InvalidContentRule("Only max_length rules take max_length.", pointer="#/max_length")
    if data.get("label") is not None and kind != "required_disclosure":
        raise InvalidContentRule("Only required_disclosure rules take a label.", pointer="#/label")
    unique: dict[str, str] = {}  # terms that match the same text are one term: the first spelling stays
    for term in terms:
        unique.setdefault(checks.fold_term(term), term)
    return {**data, "terms": list(unique.values()), "platforms": list(dict.fromkeys(data.get("platforms") or []))}


# --- authority ----------------------------------------------------------------------------

def may_manage(access: Access, brand_id: uuid.UUID | None, account_id: uuid.UUID | None) -> bool:
    """Admins, compliance, and account admins of the rule's scope manage its rules."""
    return (access.admin or access.has_role(Role.compliance)
            or access.has_role(Role.account_admin, brand_id=brand_id, account_id=account_id))


def _sees(access: Access, rule: ContentRule, account_brand: uuid.UUID | None) -> bool:
    if access.sees_everything:
        return True
    if rule.account_id is not None:
        return access.sees(account_brand, rule.account_id)
    if rule.brand_id is not None:
        return access.sees_brand(rule.brand_id)
    return True


async def _scope(session: AsyncSession, principal: Principal, account_id, brand_id) -> uuid.UUID | None:
    """The brand the target belongs to; 404 (with a pointer) when the caller cannot see it."""
    if account_id is not None:
        try:
            return (await accounts_service.get_account(session, principal, account_id)).brand_id
        except AccountNotFound:
            raise AccountNotFound("No such account.", pointer="#/account_id") from None
    if brand_id is not None:
        try:
            await brands_service.get_brand(session, principal, brand_id)
        except BrandNotFound:
            raise BrandNotFound("No such brand.", pointer="#/brand_id") from None
        return brand_id
    return None


# --- rules --------------------------------------------------------------------------------

async def create_rule(session: AsyncSession, principal: Principal, data: dict[str, Any]) -> ContentRule:
    values = validate_rule(data)
    brand = await _scope(session, principal, values.get("account_id"), values.get("brand_id"))
    access = await access_service.effective_access(session, principal)
    if not may_manage(access, brand, values.get("account_id")):
        raise CannotManageRules("Only an admin, compliance, or an account admin of this scope manages its "
                                "content rules.")
    rule = await repository.insert_rule(session, {
        "id": uuid.uuid4(), **values, "created_by_kind": str(principal.kind), "created_by_id": principal.id,
    })
    await audit.record(session, principal, "content_rule.created", "content_rule", rule.id, after=snapshot(rule))
    return rule


async def _visible(session: AsyncSession, access: Access, rule_id: uuid.UUID) -> tuple[ContentRule, uuid.UUID | None]:
    found = await repository.get_rule(session, rule_id)
    if found is None or not _sees(access, *found):
        raise ContentRuleNotFound("No such content rule.")
    return found


async def get_rule(session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> ContentRule:
    access = await access_service.effective_access(session, principal)
    return (await _visible(session, access, rule_id))[0]


async def list_rules(session: AsyncSession, principal: Principal, *, page: PageParams,
                     account_id: uuid.UUID | None = None, brand_id: uuid.UUID | None = None,
                     kind: str | None = None, include_deleted: bool = False,
                     applies_to: uuid.UUID | None = None) -> list[ContentRule]:
    access = await access_service.effective_access(session, principal)
    target = None
    if applies_to is not None:
        try:
            account = await accounts_service.get_account(session, principal, applies_to)
        except AccountNotFound:
            raise AccountNotFound("No such account.", parameter="applies_to") from None
        target = (account.id, account.brand_id)
    visible = None if access.sees_everything else (access.visible_brand_ids, access.visible_account_ids)
    return await repository.list_rules(session, visible, account_id=account_id, brand_id=brand_id, kind=kind,
                                       include_deleted=include_deleted, applies_to=target,
                                       after=cursor_after(page), limit=page.limit + 1)


async def delete_rule(session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> ContentRule:
    """Soft delete: stamps ``deleted_at``. Deleting a deleted rule changes nothing."""
    access = await access_service.effective_access(session, principal)
    rule, account_brand = await _visible(session, access, rule_id)
    if not may_manage(access, account_brand or rule.brand_id, rule.account_id):
        raise CannotManageRules("Only an admin, compliance, or an account admin of this scope deletes its "
                                "content rules.")
    if rule.deleted_at is not None:
        return rule
    before = snapshot(rule)
    deleted = await repository.soft_delete(session, rule_id)
    if deleted is None:  # a concurrent delete got there first: its record says so
        return (await _visible(session, access, rule_id))[0]
    await audit.record(session, principal, "content_rule.deleted", "content_rule", rule_id, before=before,
                       after=snapshot(deleted))
    return deleted


# --- checks -------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckResult:
    """``findings`` as dicts (see ``app.content.checks``), ready for JSON/JSONB."""

    findings: list[dict[str, Any]] = field(default_factory=list)
    risk: str = "none"
    blocked: bool = False

    @property
    def blocking(self) -> list[dict[str, Any]]:
        return checks.blocking(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"findings": self.findings, "risk": self.risk, "blocked": self.blocked}


def as_rule(row: ContentRule) -> checks.Rule:
    return checks.Rule(id=str(row.id), kind=row.kind, severity=row.severity, terms=tuple(row.terms or ()),
                       platforms=tuple(row.platforms or ()), max_length=row.max_length, label=row.label,
                       description=row.description)


async def _run(session: AsyncSession, account_id: uuid.UUID, brand_id: uuid.UUID, platform: str, *, body: str,
               link: str | None, media: Sequence[str] | None, labels: Sequence[str] | None) -> CheckResult:
    rules = [as_rule(r) for r in await repository.applicable_rules(session, account_id, brand_id)]
    content = checks.Content(platform=platform, body=body or "", link=link or None, media=tuple(media or ()),
                             labels=tuple(labels or ()))
    findings = checks.run(rules, content)
    return CheckResult([f.to_dict() for f in findings], checks.risk(findings), bool(checks.blocking(findings)))


async def check_post(session: AsyncSession, *, account_id: uuid.UUID, body: str, link: str | None = None,
                     media: Sequence[str] | None = None, labels: Sequence[str] | None = None) -> CheckResult:
    """Run the built-in rules and every live rule that applies to the account
    (organisation-wide, its brand's, its own) on this content. No authorisation: the caller
    has already decided that its principal may act on the account. Raises AccountNotFound
    for an unknown account."""
    facts = await accounts_service.facts(session, account_id)
    if facts is None:
        raise AccountNotFound("No such account.", pointer="#/account_id")
    return await _run(session, account_id, facts.brand_id, facts.platform, body=body, link=link, media=media, labels=labels)


async def check_content(session: AsyncSession, principal: Principal, *, account_id: uuid.UUID, body: str,
                        link: str | None = None, media: Sequence[str] | None = None,
                        labels: Sequence[str] | None = None) -> CheckResult:
    """The dry run: ``check_post`` for a caller who must see the account (404 otherwise)."""
    try:
        account = await accounts_service.get_account(session, principal, account_id)
    except AccountNotFound:
        raise AccountNotFound("No such account.", pointer="#/account_id") from None
    return await _run(session, account.id, account.brand_id, account.platform, body=body, link=link, media=media,
                      labels=labels)
