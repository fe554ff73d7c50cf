"""GET /v1/audit, /v1/audit/verify, /v1/audit/export over REST (rollback tier)."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.audit import jobs, service
from app.security import SYSTEM


async def all_records(api, **params) -> list[dict]:
    items, cursor = [], None
    while True:
        page = await api.ok("GET", "/v1/audit?" + _query(limit=200, cursor=cursor, **params))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def _query(**params) -> str:
    import urllib.parse

    return urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


async def write(maker, *entries: tuple[str, str, str], correlation_id: str | None = None) -> None:
    """Audit records straight through the service, committed for the app's sessions to see."""
    async with maker() as s:
        for action, subject_type, subject_id in entries:
            await service.record(s, SYSTEM, action, subject_type, subject_id, after={"n": 1},
                                 correlation_id=correlation_id)
        await s.commit()


@pytest.fixture
async def me(api) -> dict:
    return await api.ok("GET", "/v1/me")


class TestRecordOfAMutation:
    async def test_creating_a_brand_writes_one_record_with_its_context(self, api, me):
        brand = await api.brand("Acme Audit")
        r = await api.client.post("/v1/brands", json={"name": "Acme Audit 2"},
                                  headers=api.h(**{"X-Request-ID": "req-audit-1"}))
        assert r.status_code == 201, r.text

        records = await all_records(api, subject_type="brand", subject_id=brand["id"])
        assert len(records) == 1
        rec = records[0]
        assert rec["action"] == "brand.created"
        assert rec["actor_kind"] == "user" and rec["actor_id"] == me["id"]
        assert rec["before"] is None and rec["after"]["name"] == "Acme Audit"
        assert rec["client_ip"] == "127.0.0.1"
        assert rec["seq"] is None and rec["hash"] is None  # sealing happens off the request path

        second = await all_records(api, subject_id=r.json()["id"])
        assert [x["request_id"] for x in second] == ["req-audit-1"]

    async def test_an_update_records_only_the_fields_that_changed(self, api):
        brand = await api.brand("Before Name")
        await api.ok("PATCH", f"/v1/brands/{brand['id']}", {"name": "After Name"})
        records = await all_records(api, subject_id=brand["id"], action="brand.updated")
        assert len(records) == 1
        assert records[0]["before"] == {"name": "Before Name"}
        assert records[0]["after"] == {"name": "After Name"}

    async def test_a_failed_mutation_leaves_no_record(self, api):
        await api.brand("Taken Name")
        before = await all_records(api, action="brand.created")
        r = await api.post("/v1/brands", {"name": "Taken Name"})
        assert r.status_code == 409, r.text
        assert await all_records(api, action="brand.created") == before


class TestListAudit:
    async def test_filters(self, api, maker, me):
        subject = str(uuid.uuid4())
        await write(maker, ("thing.made", "thing", subject), ("thing.changed", "thing", subject),
                    ("other.made", "other", str(uuid.uuid4())), correlation_id="hr-evt-42")
        await api.brand()

        assert {r["action"] for r in await all_records(api, subject_type="thing")} == {"thing.made", "thing.changed"}
        assert [r["action"] for r in await all_records(api, subject_id=subject)] == ["thing.made", "thing.changed"]
        assert [r["action"] for r in await all_records(api, action="other.made")] == ["other.made"]
        assert len(await all_records(api, correlation_id="hr-evt-42")) == 3
        assert await all_records(api, correlation_id="nope") == []
        by_admin = await all_records(api, actor_id=me["id"])
        assert by_admin and all(r["actor_id"] == me["id"] for r in by_admin)
        assert "thing.made" not in {r["action"] for r in by_admin}  # written by the system actor
        assert await all_records(api, subject_type="thing", action="thing.made", subject_id=subject) != []
        assert await all_records(api, subject_type="other", subject_id=subject) == []

    async def test_time_window(self, api, maker):
        await write(maker, ("a.one", "t", "1"), ("a.two", "t", "2"), ("a.three", "t", "3"))
        records = await all_records(api, subject_type="t")
        assert [r["action"] for r in records] == ["a.one", "a.two", "a.three"]
        second = records[1]["occurred_at"]

        since = await all_records(api, subject_type="t", since=second)
        assert [r["action"] for r in since] == ["a.two", "a.three"]
        until = await all_records(api, subject_type="t", until=second)
        assert [r["action"] for r in until] == ["a.one"]
        window = await all_records(api, subject_type="t", since=records[0]["occurred_at"], until=records[2]["occurred_at"])
        assert [r["action"] for r in window] == ["a.one", "a.two"]

        later = (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None).isoformat()
        assert await all_records(api, subject_type="t", since=later) == []  # no offset: UTC
        assert len(await all_records(api, subject_type="t", until=later)) == 3

    async def test_cursor_pagination_walks_every_record_once_oldest_first(self, api, maker):
        await write(maker, *[("p.made", "page", str(i)) for i in range(7)])
        seen, cursor, pages = [], None, 0
        while True:
            page = await api.ok("GET", "/v1/audit?" + _query(subject_type="page", limit=3, cursor=cursor))
            pages += 1
            assert len(page["items"]) <= 3
            seen += [r["subject_id"] for r in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [str(i) for i in range(7)]
        assert pages == 3

    @pytest.mark.parametrize("cursor", ["garbage!", "WyJ4Il0"])  # WyJ4Il0 = ["x"]: not ours
    async def test_a_foreign_cursor_is_refused(self, api, cursor):
        r = await api.get("/v1/audit", cursor=cursor)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "validation-error"

    async def test_bad_filter_values_are_refused(self, api):
        assert (await api.get("/v1/audit", actor_id="not-a-uuid")).status_code == 422
        assert (await api.get("/v1/audit", since="yesterday")).status_code == 422


class TestAuditScope:
    async def test_needs_a_token(self, client):
        for path in ("/v1/audit", "/v1/audit/verify", "/v1/audit/export"):
            r = await client.get(path)
            assert r.status_code == 401, path

    async def test_needs_audit_read(self, api):
        user = await api.user()
        token = await api.token_for(user["id"], scopes=("posts:read", "access:read"))
        for path in ("/v1/audit", "/v1/audit/verify", "/v1/audit/export"):
            r = await api.get(path, token=token)
            assert r.status_code == 403, path
            assert r.json()["code"] == "insufficient-scope"
            assert r.json()["required_scopes"] == ["audit:read"]

    async def test_audit_read_is_enough_and_admin_implies_it(self, api):
        user = await api.user()
        auditor = await api.token_for(user["id"], scopes=("audit:read",))
        for token in (auditor, None):  # None: the admin bootstrap token
            for path in ("/v1/audit", "/v1/audit/verify", "/v1/audit/export"):
                r = await api.get(path, token=token)
                assert r.status_code == 200, (path, r.text)


class TestVerify:
    async def test_sealed_chain_verifies(self, api, maker):
        await api.brand()
        await api.brand()
        pending = await api.ok("GET", "/v1/audit/verify")
        assert pending["ok"] is True and pending["unsealed"] > 0 and pending["head_seq"] is None

        sealed = await jobs.seal_once(maker)
        result = await api.ok("GET", "/v1/audit/verify")
        assert result == {"ok": True, "sealed": sealed, "unsealed": 0, "head_seq": sealed,
                          "head_hash": result["head_hash"], "first_broken": None, "checkpoints_checked": 1,
                          "checkpoint": {"seq": sealed, "hash": result["head_hash"],
                                         "created_at": result["checkpoint"]["created_at"], "signature": None,
                                         "key_id": None, "matches": True, "signature_ok": None}}
        records = await all_records(api)
        assert [r["seq"] for r in records if r["seq"]] == list(range(1, sealed + 1))
        assert records[-1]["hash"] == result["head_hash"]
        assert records[0]["prev_hash"] == service.GENESIS
        assert all(b["prev_hash"] == a["hash"] for a, b in zip(records, records[1:], strict=False))

    async def test_sealing_again_extends_the_chain(self, api, maker):
        await api.brand()
        first = await jobs.seal_once(maker)
        head = (await api.ok("GET", "/v1/audit/verify"))["head_hash"]
        brand = await api.brand()
        assert await jobs.seal_once(maker) == 1
        assert await jobs.seal_once(maker) == 0
        result = await api.ok("GET", "/v1/audit/verify")
        assert result["ok"] and result["head_seq"] == first + 1
        [rec] = await all_records(api, subject_id=brand["id"])
        assert rec["seq"] == first + 1 and rec["prev_hash"] == head


class TestExport:
    async def test_streams_every_matching_record_as_json_lines(self, api, maker):
        await write(maker, *[("e.made", "exp", str(i)) for i in range(5)])
        await api.brand()
        await jobs.seal_once(maker)

        r = await api.client.get("/v1/audit/export", headers=api.h())
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/jsonl")
        assert "attachment" in r.headers["content-disposition"]
        assert r.text.endswith("\n")
        lines = [json.loads(line) for line in r.text.splitlines()]
        assert lines == await all_records(api)
        assert [x["id"] for x in lines] == sorted(x["id"] for x in lines)

        r = await api.client.get("/v1/audit/export", params={"subject_type": "exp"}, headers=api.h())
        lines = [json.loads(line) for line in r.text.splitlines()]
        assert [x["subject_id"] for x in lines] == [str(i) for i in range(5)]

    async def test_export_with_no_match_is_empty(self, api):
        r = await api.client.get("/v1/audit/export", params={"action": "never.happened"}, headers=api.h())
        assert r.status_code == 200 and r.text == ""
