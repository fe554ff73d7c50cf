"""Cursor pagination: {"items", "next_cursor"}; walking pages yields every item once, in order;
a cursor this service did not issue is a 422 naming ``cursor``."""
from __future__ import annotations

import base64
import json
import uuid

import pytest

from app.errors import PROBLEM_JSON
from app.pagination import MAX_LIMIT, decode_cursor, encode_cursor


SOME_ID = "6f1c9a52-3f0e-4d1b-9a53-2b8f0c7d1e44"


def cursor_of(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


async def walk(api, path: str, limit: int, token=None, **params) -> list[dict]:
    """Every page of ``path``; asserts the page shape and sizes on the way."""
    pages, cursor = [], None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        r = await api.get(path, token=token, **query)
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {"items", "next_cursor"}
        pages.append(page)
        assert len(pages) < 100, "pagination does not terminate"
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["items"]) == limit  # only the last page may be short
    return pages


async def make(api, kind: str, n: int) -> list[str]:
    """Create ``n`` rows of ``kind``; return their ids."""
    if kind == "brands":
        return [(await api.brand())["id"] for _ in range(n)]
    if kind == "users":
        return [(await api.user())["id"] for _ in range(n)]
    brand = await api.brand()
    if kind == "accounts":
        return [(await api.account(brand["id"]))["id"] for _ in range(n)]
    if kind == "grants":
        return [(await api.grant((await api.user())["id"], "contributor", brand_id=brand["id"]))["id"]
                for _ in range(n)]
    user = await api.user()
    if kind == "tokens":
        return [(await api.ok("POST", "/v1/tokens", {"user_id": user["id"], "scopes": ["posts:read"]}))["id"]
                for _ in range(n)]
    raise AssertionError(kind)


class TestWalkingPages:
    @pytest.mark.parametrize("kind", ["brands", "users", "accounts", "grants", "tokens"])
    async def test_every_item_exactly_once_in_order(self, api, kind):
        made = await make(api, kind, 7)
        pages = await walk(api, f"/v1/{kind}", limit=2)
        walked = [item for page in pages for item in page["items"]]
        ids = [item["id"] for item in walked]
        assert len(ids) == len(set(ids)), "an item appeared twice"
        assert set(made) <= set(ids), "an item was skipped"
        assert [(i["created_at"], uuid.UUID(i["id"])) for i in walked] == sorted(
            (i["created_at"], uuid.UUID(i["id"])) for i in walked)
        whole = (await api.get(f"/v1/{kind}", limit=MAX_LIMIT)).json()
        assert whole["next_cursor"] is None
        assert [i["id"] for i in whole["items"]] == ids

    async def test_seven_brands_in_pages_of_two(self, api):
        made = await make(api, "brands", 7)
        pages = await walk(api, "/v1/brands", limit=2)
        assert [len(p["items"]) for p in pages] == [2, 2, 2, 1]
        assert sorted(i["id"] for p in pages for i in p["items"]) == sorted(made)

    async def test_an_exact_multiple_has_no_empty_last_page(self, api):
        await make(api, "brands", 4)
        pages = await walk(api, "/v1/brands", limit=2)
        assert [len(p["items"]) for p in pages] == [2, 2]

    async def test_an_empty_list(self, api):
        r = await api.get("/v1/brands")
        assert r.json() == {"items": [], "next_cursor": None}

    async def test_filters_hold_across_pages(self, api):
        brand = await api.brand()
        other = await api.brand()
        mine = [(await api.account(brand["id"]))["id"] for _ in range(5)]
        await api.account(other["id"])
        pages = await walk(api, "/v1/accounts", limit=2, brand_id=brand["id"])
        assert sorted(i["id"] for p in pages for i in p["items"]) == sorted(mine)

    async def test_limit_bounds(self, api):
        assert (await api.get("/v1/brands", limit=1)).status_code == 200
        assert (await api.get("/v1/brands", limit=MAX_LIMIT)).status_code == 200
        r = await api.get("/v1/brands", limit=MAX_LIMIT + 1)
        assert r.status_code == 422 and r.json()["errors"][0]["parameter"] == "limit"

    async def test_a_user_pages_only_through_what_they_may_see(self, api):
        brands = await make(api, "brands", 5)
        user = await api.user()
        for brand_id in brands[:3]:
            await api.grant(user["id"], "viewer", brand_id=brand_id)
        token = await api.token_for(user["id"], scopes=("posts:read",))
        pages = await walk(api, "/v1/brands", limit=2, token=token)
        assert sorted(i["id"] for p in pages for i in p["items"]) == sorted(brands[:3])


@pytest.mark.committed
class TestWalkingCommittedRows:
    async def test_distinct_creation_times(self, committed):
        made = [(await committed.api.brand())["id"] for _ in range(7)]
        pages = await walk(committed.api, "/v1/brands", limit=2)
        walked = [i for p in pages for i in p["items"]]
        assert [i["id"] for i in walked] == made  # created one after another: creation order
        assert len({i["created_at"] for i in walked}) == 7


class TestBadCursors:
    @pytest.mark.parametrize("cursor", [
        "garbage", "!!!!", "%%%", "W10", cursor_of([]), cursor_of({"a": 1}), cursor_of("x"), cursor_of([True]),
        cursor_of([None]), cursor_of([10**30]), cursor_of([1]), cursor_of(["x", "y"]), cursor_of([[1], [2]]),
        cursor_of(["2026-01-01T00:00:00", SOME_ID]), cursor_of(["2026-01-01T00:00:00+00:00", "nope"]),
        cursor_of(["2026-01-01T00:00:00+00:00", SOME_ID, "extra"]),
        cursor_of([SOME_ID, "2026-01-01T00:00:00+00:00"]), cursor_of(["0001-01-01T00:00:00+14:00", SOME_ID]),
        cursor_of(["9999-12-31T23:59:59-14:00", SOME_ID]), cursor_of(["x" * 300]),
        base64.urlsafe_b64encode(b"\xff\xfe[1]").decode(), "A" * 513,
    ])
    async def test_a_cursor_not_issued_here_is_422_naming_cursor(self, api, cursor):
        r = await api.get("/v1/brands", cursor=cursor)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == PROBLEM_JSON
        body = r.json()
        assert body["code"] == "validation-error" and body["status"] == 422
        assert [e["parameter"] for e in body["errors"]] == ["cursor"]

    @pytest.mark.parametrize("path", ["/v1/users", "/v1/accounts", "/v1/grants", "/v1/tokens"])
    async def test_every_list_checks_its_cursor(self, api, path):
        r = await api.get(path, cursor="garbage")
        assert r.status_code == 422 and r.json()["errors"][0]["parameter"] == "cursor"

    async def test_a_valid_cursor_round_trips(self):
        values = ("2026-01-01T00:00:00+00:00", uuid.uuid4())
        assert decode_cursor(encode_cursor(values)) == (values[0], str(values[1]))
        assert decode_cursor(encode_cursor((42,))) == (42,)
