"""X-Request-ID in and out, and into the audit record the request writes."""
from __future__ import annotations

import re
import uuid

import pytest

from app import context
from app.observability import _add_request_id

GENERATED = re.compile(r"^[0-9a-f]{32}$")


async def audit_for(api, subject_id: str) -> list[dict]:
    r = await api.get("/v1/audit", subject_type="brand", subject_id=subject_id)
    assert r.status_code == 200, r.text
    return r.json()["items"]


class TestRequestIdHeader:
    async def test_a_given_id_is_echoed(self, client):
        r = await client.get("/healthz", headers={"X-Request-ID": "abc-123.def:456_7"})
        assert r.headers["x-request-id"] == "abc-123.def:456_7"

    async def test_an_id_is_generated_when_absent(self, client):
        a = await client.get("/healthz")
        b = await client.get("/healthz")
        assert GENERATED.match(a.headers["x-request-id"])
        assert a.headers["x-request-id"] != b.headers["x-request-id"]

    @pytest.mark.parametrize("bad", ["", "has space", "x" * 129, "semi;colon", "quote\"d", "\u00e9t\u00e9",
                                     "new\\nline", "<script>"])
    async def test_an_invalid_id_is_replaced(self, client, bad):
        r = await client.get("/healthz", headers={"X-Request-ID": bad.encode()})
        assert r.headers["x-request-id"] != bad
        assert GENERATED.match(r.headers["x-request-id"])

    async def test_the_longest_valid_id_is_kept(self, client):
        rid = "r" * 128
        assert (await client.get("/healthz", headers={"X-Request-ID": rid})).headers["x-request-id"] == rid

    async def test_echoed_on_error_answers_too(self, api, client):
        for r in [await client.get("/nowhere", headers={"X-Request-ID": "e-404"}),
                  await client.get("/v1/brands", headers={"X-Request-ID": "e-401"}),
                  await api.client.post("/v1/brands", json={"name": 5}, headers=api.h(**{"X-Request-ID": "e-422"})),
                  await api.client.delete("/v1/brands", headers=api.h(**{"X-Request-ID": "e-405"}))]:
            assert r.headers["x-request-id"] == "e-" + str(r.status_code)

    async def test_one_header_only(self, client):
        r = await client.get("/healthz", headers={"X-Request-ID": "only-once"})
        assert r.headers.get_list("x-request-id") == ["only-once"]

    async def test_the_id_does_not_leak_into_the_next_request(self, client):
        await client.get("/healthz", headers={"X-Request-ID": "first-one"})
        assert context.request_id.get() is None
        r = await client.get("/healthz")
        assert r.headers["x-request-id"] != "first-one"


class TestRequestIdInAudit:
    async def test_the_audit_record_carries_the_given_request_id(self, api):
        rid = f"req-{uuid.uuid4().hex}"
        r = await api.post("/v1/brands", {"name": f"Audited {uuid.uuid4()}"}, **{"X-Request-ID": rid})
        assert r.status_code == 201 and r.headers["x-request-id"] == rid
        records = await audit_for(api, r.json()["id"])
        assert [(a["action"], a["request_id"]) for a in records] == [("brand.created", rid)]
        assert records[0]["client_ip"] == "127.0.0.1"

    async def test_the_audit_record_carries_a_generated_request_id(self, api):
        r = await api.post("/v1/brands", {"name": f"Generated {uuid.uuid4()}"})
        rid = r.headers["x-request-id"]
        assert GENERATED.match(rid)
        assert [a["request_id"] for a in await audit_for(api, r.json()["id"])] == [rid]

    async def test_each_request_writes_its_own_id(self, api):
        r = await api.post("/v1/brands", {"name": f"Twice {uuid.uuid4()}"}, **{"X-Request-ID": "create-1"})
        brand_id = r.json()["id"]
        r2 = await api.client.patch(f"/v1/brands/{brand_id}", json={"description": "changed"},
                                    headers=api.h(**{"X-Request-ID": "update-2"}))
        assert r2.status_code == 200, r2.text
        got = [(a["action"], a["request_id"]) for a in await audit_for(api, brand_id)]
        assert got == [("brand.created", "create-1"), ("brand.updated", "update-2")]

    async def test_the_audit_list_filters_by_subject_type(self, api):
        r = await api.post("/v1/brands", {"name": f"Filtered {uuid.uuid4()}"}, **{"X-Request-ID": "filter-me"})
        assert r.status_code == 201
        page = (await api.get("/v1/audit", subject_type="brand", limit=200)).json()
        assert all(a["subject_type"] == "brand" for a in page["items"])
        assert "filter-me" in [a["request_id"] for a in page["items"]]


class TestLogLines:
    def test_log_lines_carry_the_request_id(self):
        token = context.request_id.set("log-rid")
        try:
            assert _add_request_id(None, "info", {"event": "x"})["request_id"] == "log-rid"
            assert _add_request_id(None, "info", {"event": "x", "request_id": "own"})["request_id"] == "own"
        finally:
            context.request_id.reset(token)
        assert "request_id" not in _add_request_id(None, "info", {"event": "x"})
