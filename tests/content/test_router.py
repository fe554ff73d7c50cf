"""Content rules and the dry run over REST."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from app.content import service
from app.models import AuditRecord

RULES = "/v1/content-rules"


async def rule(api, token=None, status=201, **body):
    body = {"kind": "banned_term", "terms": ["赌博"], "severity": "block", **body}
    r = await api.post(RULES, body, token=token)
    assert r.status_code == status, r.text
    return r.json()


async def user_with(api, role, scopes=("posts:read", "posts:write"), **scope) -> str:
    u = await api.user()
    await api.grant(u["id"], role, **scope)
    return await api.token_for(u["id"], scopes)


@pytest.fixture
async def world(api):
    b = await api.brand()
    other = await api.brand()
    return {"brand": b, "other": other, "acc": await api.account(b["id"], platform="weibo"),
            "acc2": await api.account(b["id"], platform="x"), "far": await api.account(other["id"])}


class TestCreate:
    async def test_admin_creates_organisation_rule(self, api, session):
        r = await rule(api, terms=["赌博", " 赌博 ", "Casino", "casino"], description="gambling")
        assert r["scope"] == "organization" and r["terms"] == ["赌博", "Casino"]
        assert r["deleted_at"] is None and r["created_by_kind"] == "user"
        got = await api.ok("GET", f"{RULES}/{r['id']}")
        assert got == r
        rec = (await session.execute(select(AuditRecord).where(AuditRecord.subject_id == r["id"]))).scalar_one()
        assert rec.action == "content_rule.created" and rec.after["terms"] == ["赌博", "Casino"]

    async def test_idempotent(self, api, world):
        body = {"kind": "sensitive_term", "terms": ["股价"], "severity": "medium", "brand_id": world["brand"]["id"]}
        first = await api.post(RULES, body, **{"Idempotency-Key": "k1"})
        again = await api.post(RULES, body, **{"Idempotency-Key": "k1"})
        assert first.status_code == again.status_code == 201
        assert again.headers.get("idempotent-replayed") == "true" and again.json()["id"] == first.json()["id"]

    async def test_compliance_creates_anywhere(self, api, world):
        token = await user_with(api, "compliance")
        await rule(api, token)
        r = await rule(api, token, account_id=world["far"]["id"])
        assert r["scope"] == "account"

    async def test_account_admin_in_and_out_of_scope(self, api, world):
        token = await user_with(api, "account_admin", ("access:admin",), brand_id=world["brand"]["id"])
        await rule(api, token, brand_id=world["brand"]["id"])
        await rule(api, token, account_id=world["acc"]["id"])
        r = await rule(api, token, status=403)  # organisation-wide
        assert r["code"] == "cannot-manage-content-rules"
        r = await rule(api, token, status=404, brand_id=world["other"]["id"])  # cannot even see it
        assert r["pointer"] == "#/brand_id"
        await rule(api, token, status=404, account_id=world["far"]["id"])

    async def test_account_level_admin_cannot_rule_the_brand(self, api, world):
        token = await user_with(api, "account_admin", account_id=world["acc"]["id"])
        await rule(api, token, account_id=world["acc"]["id"])
        await rule(api, token, status=403, brand_id=world["brand"]["id"])

    async def test_plain_users_cannot(self, api, world):
        token = await user_with(api, "publisher", brand_id=world["brand"]["id"])
        r = await rule(api, token, status=403, brand_id=world["brand"]["id"])
        assert r["code"] == "cannot-manage-content-rules"
        await rule(api, token, status=403, account_id=world["acc"]["id"])

    async def test_scope_needed(self, api):
        token = await user_with(api, "compliance", ("posts:read",))
        r = await rule(api, token, status=403)
        assert r["code"] == "insufficient-scope"

    @pytest.mark.parametrize(("body", "pointer"), [
        ({"terms": []}, "#/terms"),
        ({"terms": ["x" * 201]}, "#/terms/0"),
        ({"terms": ["ok", "a\x00b"]}, "#/terms/1"),
        ({"terms": ["  "]}, "#/terms/0"),
        ({"terms": ["\u200b"]}, "#/terms/0"),
        ({"terms": [f"t{i}" for i in range(501)]}, "#/terms"),
        ({"severity": "critical"}, "#/severity"),
        ({"kind": "profanity"}, "#/kind"),
        ({"kind": "max_length", "terms": []}, "#/max_length"),
        ({"kind": "max_length", "terms": ["a"], "max_length": 100}, "#/terms"),
        ({"max_length": 100}, "#/max_length"),
        ({"kind": "link_allowlist", "terms": ["acme.com", "https://evil.io/x"]}, "#/terms/1"),
        ({"kind": "link_allowlist", "terms": ["localhost"]}, "#/terms/0"),
        ({"kind": "personal_data", "terms": ["passport"]}, "#/terms/0"),
        ({"label": "sponsored"}, "#/label"),
        ({"platforms": ["myspace"]}, "#/platforms/0"),
        ({"brand_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4())}, "#/brand_id"),
        ({"extra": 1}, "#/extra"),
    ])
    async def test_invalid(self, api, body, pointer):
        r = await rule(api, status=422, **body)
        assert r["errors"][0]["pointer"] == pointer, r

    async def test_kinds_without_terms(self, api):
        r = await rule(api, kind="max_length", terms=[], max_length=140, platforms=["weibo", "weibo"], severity="high")
        assert r["max_length"] == 140 and r["platforms"] == ["weibo"]
        await rule(api, kind="required_disclosure", terms=[], label="partner")
        await rule(api, kind="personal_data", terms=["ID_NUMBER"], severity="block")
        r = await rule(api, kind="link_allowlist", terms=["ACME.com", "*.acme.cn", "例子.中国"])
        assert r["terms"] == ["acme.com", "acme.cn", "xn--fsqu00a.xn--fiqs8s"]

    async def test_unknown_scope_is_404(self, api):
        r = await rule(api, status=404, account_id=str(uuid.uuid4()))
        assert r["pointer"] == "#/account_id"


class TestList:
    async def test_visibility(self, api, world):
        org = await rule(api)
        on_brand = await rule(api, brand_id=world["brand"]["id"])
        on_acc = await rule(api, account_id=world["acc"]["id"])
        on_acc2 = await rule(api, account_id=world["acc2"]["id"])
        on_far = await rule(api, account_id=world["far"]["id"])
        on_other = await rule(api, brand_id=world["other"]["id"])
        mine = {org["id"], on_brand["id"], on_acc["id"], on_acc2["id"], on_far["id"], on_other["id"]}

        def ids(r):
            return {x["id"] for x in r.json()["items"]} & mine

        assert ids(await api.get(RULES, limit=200)) == mine
        brand_viewer = await user_with(api, "viewer", ("posts:read",), brand_id=world["brand"]["id"])
        assert ids(await api.get(RULES, brand_viewer, limit=200)) == {org["id"], on_brand["id"], on_acc["id"],
                                                                      on_acc2["id"]}
        acc_viewer = await user_with(api, "viewer", ("posts:read",), account_id=world["acc"]["id"])
        assert ids(await api.get(RULES, acc_viewer, limit=200)) == {org["id"], on_brand["id"], on_acc["id"]}
        for hidden in (on_acc2, on_far, on_other):
            r = await api.get(f"{RULES}/{hidden['id']}", acc_viewer)
            assert r.status_code == 404 and r.json()["code"] == "content-rule-not-found"
        assert (await api.get(f"{RULES}/{on_brand['id']}", acc_viewer)).status_code == 200
        nobody = await api.token_for((await api.user())["id"], ("posts:read",))
        assert ids(await api.get(RULES, nobody, limit=200)) == {org["id"]}

    async def test_filters_and_pages(self, api, world):
        b = world["brand"]["id"]
        a = await rule(api, brand_id=b)
        c = await rule(api, brand_id=b, kind="sensitive_term", severity="medium")
        d = await rule(api, account_id=world["acc"]["id"])
        # one transaction per test: created_at ties, and the id decides the order
        first, second = sorted([a, c], key=lambda x: x["id"])
        assert [x["id"] for x in (await api.get(RULES, brand_id=b)).json()["items"]] == [first["id"], second["id"]]
        assert [x["id"] for x in (await api.get(RULES, brand_id=b, kind="sensitive_term")).json()["items"]] == [
            c["id"]]
        assert [x["id"] for x in (await api.get(RULES, account_id=world["acc"]["id"])).json()["items"]] == [d["id"]]
        page = (await api.get(RULES, brand_id=b, limit=1)).json()
        assert [x["id"] for x in page["items"]] == [first["id"]] and page["next_cursor"]
        page = (await api.get(RULES, brand_id=b, limit=1, cursor=page["next_cursor"])).json()
        assert [x["id"] for x in page["items"]] == [second["id"]] and page["next_cursor"] is None
        applies = {x["id"] for x in (await api.get(RULES, applies_to=world["acc"]["id"], limit=200)).json()["items"]}
        assert {a["id"], c["id"], d["id"]} <= applies
        far = {x["id"] for x in (await api.get(RULES, applies_to=world["far"]["id"], limit=200)).json()["items"]}
        assert not far & {a["id"], c["id"], d["id"]}
        r = await api.get(RULES, kind="nope")
        assert r.status_code == 422
        r = await api.get(RULES, applies_to=str(uuid.uuid4()))
        assert r.status_code == 404 and r.json()["errors"][0]["parameter"] == "applies_to"


class TestDelete:
    async def test_soft_delete(self, api, world, session):
        r = await rule(api, brand_id=world["brand"]["id"])
        d = await api.client.delete(f"{RULES}/{r['id']}", headers=api.h())
        assert d.status_code == 204 and d.content == b""
        got = await api.ok("GET", f"{RULES}/{r['id']}")
        assert got["deleted_at"] is not None
        listed = {x["id"] for x in (await api.get(RULES, brand_id=world["brand"]["id"])).json()["items"]}
        assert r["id"] not in listed
        listed = {x["id"] for x in (await api.get(RULES, brand_id=world["brand"]["id"],
                                                  include_deleted="true")).json()["items"]}
        assert r["id"] in listed
        again = await api.client.delete(f"{RULES}/{r['id']}", headers=api.h())
        assert again.status_code == 204
        actions = (await session.execute(select(AuditRecord.action).where(AuditRecord.subject_id == r["id"])
                                         )).scalars().all()
        assert sorted(actions) == ["content_rule.created", "content_rule.deleted"]  # deleting twice: one record

    async def test_same_authority_as_creating(self, api, world):
        r = await rule(api, brand_id=world["brand"]["id"])
        acc_admin = await user_with(api, "account_admin", account_id=world["acc"]["id"])
        assert (await api.client.delete(f"{RULES}/{r['id']}", headers=api.h(acc_admin))).status_code == 403
        outsider = await user_with(api, "account_admin", brand_id=world["other"]["id"])
        assert (await api.client.delete(f"{RULES}/{r['id']}", headers=api.h(outsider))).status_code == 404
        compliance = await user_with(api, "compliance")
        assert (await api.client.delete(f"{RULES}/{r['id']}", headers=api.h(compliance))).status_code == 204
        assert (await api.client.delete(f"{RULES}/{uuid.uuid4()}", headers=api.h())).status_code == 404

    async def test_deleted_rules_stop_applying(self, api, world, session):
        r = await rule(api, account_id=world["acc"]["id"], terms=["禁词"])
        result = await service.check_post(session, account_id=uuid.UUID(world["acc"]["id"]), body="禁词")
        assert result.blocked
        await api.client.delete(f"{RULES}/{r['id']}", headers=api.h())
        result = await service.check_post(session, account_id=uuid.UUID(world["acc"]["id"]), body="禁词")
        assert not result.blocked and result.findings == []


class TestDryRun:
    async def test_chinese_banned_term_with_span(self, api, world):
        await rule(api, brand_id=world["brand"]["id"], terms=["赌博"], description="no gambling")
        body = "周末来玩，赌博有风险"
        r = await api.ok("POST", "/v1/content-checks", {"account_id": world["acc"]["id"], "body": body},
                         status=200)
        assert r["blocked"] is True and r["risk"] == "none"
        [f] = r["findings"]
        assert f["kind"] == "banned_term" and f["severity"] == "block" and f["field"] == "body"
        assert f["span"] == {"start": 5, "end": 7} and f["match"] == "赌博" == body[5:7]
        assert "no gambling" in f["message"]
        # the other brand's accounts are not touched by it
        r = await api.ok("POST", "/v1/content-checks", {"account_id": world["far"]["id"], "body": body}, status=200)
        assert r == {"findings": [], "risk": "none", "blocked": False}

    async def test_rules_and_platform_of_the_account(self, api, world):
        await rule(api, account_id=world["acc2"]["id"], kind="link_allowlist", terms=["acme.com"],
                   severity="high")
        body = "字" * 139 + " https://evil.io/x"
        r = await api.ok("POST", "/v1/content-checks", {
            "account_id": world["acc2"]["id"], "body": body, "link": "https://news.acme.com/a",
            "labels": ["sponsored"], "media": ["https://cdn.acme.com/1.jpg"]}, status=200)
        kinds = {(f["rule_id"].startswith("builtin:"), f["kind"], f["field"]) for f in r["findings"]}
        assert kinds == {(True, "max_length", "body"), (True, "required_disclosure", "labels"),
                         (False, "link_allowlist", "body")}
        assert r["blocked"] is True and r["risk"] == "high"

    async def test_visibility_and_input(self, api, world):
        token = await user_with(api, "contributor", account_id=world["acc"]["id"])
        r = await api.post("/v1/content-checks", {"account_id": world["far"]["id"], "body": "x"}, token=token)
        assert r.status_code == 404 and r.json()["pointer"] == "#/account_id"
        r = await api.post("/v1/content-checks", {"account_id": world["acc"]["id"], "body": "内部 x"}, token=token)
        assert r.status_code == 200 and r.json()["risk"] == "high"
        for bad in ({"account_id": world["acc"]["id"], "body": "a\x00"},
                    {"account_id": world["acc"]["id"], "body": "x" * 100_001},
                    {"account_id": "nope", "body": "x"},
                    {"account_id": world["acc"]["id"], "body": "x", "labels": [""]},
                    {"account_id": world["acc"]["id"]}):
            r = await api.post("/v1/content-checks", bad)
            assert r.status_code == 422, bad
        r = await api.post("/v1/content-checks", {"account_id": world["acc"]["id"], "body": "x"},
                           token=await user_with(api, "viewer", ("access:read",), account_id=world["acc"]["id"]))
        assert r.status_code == 403

    async def test_spans_are_into_the_body_as_sent(self, api, world):
        body = "  \n内部通知"
        r = await api.ok("POST", "/v1/content-checks", {"account_id": world["acc"]["id"], "body": body}, status=200)
        [f] = r["findings"]
        assert body[f["span"]["start"]:f["span"]["end"]] == "内部"


class TestCheckPost:
    async def test_service_api(self, api, world, session):
        await rule(api, kind="sensitive_term", terms=["股价"], severity="medium")
        result = await service.check_post(session, account_id=uuid.UUID(world["acc"]["id"]),
                                          body="股价 #ad", link=None, media=[], labels=["sponsored"])
        assert result.risk == "medium" and not result.blocked and result.blocking == []
        assert result.findings[0]["span"] == {"start": 0, "end": 2}
        assert result.to_dict()["risk"] == "medium"

    async def test_unknown_account(self, session):
        from app.accounts.errors import AccountNotFound

        with pytest.raises(AccountNotFound):
            await service.check_post(session, account_id=uuid.uuid4(), body="x")
