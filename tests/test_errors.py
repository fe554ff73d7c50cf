"""Every error is RFC 9457 problem+json with a stable type; bad input names the offending field;
no input produces a 500."""
from __future__ import annotations

import json
import uuid

import httpx
import pytest
from sqlalchemy import text

from app.config import Settings
from app.errors import PROBLEM_BASE, PROBLEM_JSON
from app.main import create_app
from app.security import Scope
from tests.support.problems import problem  # noqa: F401

JSON = {"content-type": "application/json"}


def where(body: dict, member: str) -> list[str]:
    """The values of ``member`` (pointer / parameter / header ...) across ``errors[]``."""
    return [e[member] for e in body.get("errors", []) if member in e]


async def raw_post(api, path: str, content: bytes, **headers) -> httpx.Response:
    return await api.client.post(path, content=content, headers=api.h(**{**JSON, **headers}))


async def count(session, table: str) -> int:
    return (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()


class TestRoutes:
    async def test_unknown_route_is_a_404_problem(self, client):
        body = problem(await client.get("/v1/no-such-thing"), 404, "route-not-found")
        assert body["instance"] == "/v1/no-such-thing"

    async def test_unknown_route_under_a_known_prefix(self, api):
        problem(await api.get("/v1/brands/" + str(uuid.uuid4()) + "/nothing"), 404, "route-not-found")

    async def test_wrong_method_is_a_405_naming_every_allowed_method(self, api):
        r = await api.client.delete("/v1/brands", headers=api.h())
        body = problem(r, 405, "method-not-allowed")
        assert {m.strip() for m in r.headers["allow"].split(",")} == {"GET", "POST"}
        assert set(body["allowed_methods"]) == {"GET", "POST"}

    async def test_wrong_method_on_an_item_path(self, api):
        r = await api.client.put(f"/v1/brands/{uuid.uuid4()}", json={}, headers=api.h())
        problem(r, 405, "method-not-allowed")
        assert {m.strip() for m in r.headers["allow"].split(",")} == {"GET", "PATCH"}

    async def test_a_missing_object_is_a_domain_404(self, api):
        body = problem(await api.get(f"/v1/brands/{uuid.uuid4()}"), 404)
        assert body["code"] != "route-not-found"


class TestMalformedBodies:
    async def test_malformed_json(self, api):
        body = problem(await raw_post(api, "/v1/brands", b'{"name": "x",'), 422, "malformed-json")
        assert where(body, "pointer") == ["#"]
        assert "position" in body["errors"][0]

    @pytest.mark.parametrize("content", [b"[]", b'[{"name": "x"}]', b'"a string"', b"42", b"null", b"true"])
    async def test_a_body_that_is_not_an_object(self, api, content):
        body = problem(await raw_post(api, "/v1/brands", content), 422, "validation-error")
        assert where(body, "pointer") == ["#"]
        assert "JSON object" in body["errors"][0]["detail"]

    async def test_empty_body(self, api):
        body = problem(await raw_post(api, "/v1/brands", b""), 422, "validation-error")
        assert where(body, "pointer") == ["#"]

    async def test_non_utf8_body(self, api):
        body = problem(await raw_post(api, "/v1/brands", '{"name": "caf\u00e9"}'.encode("latin-1")), 422,
                       "malformed-json")
        assert "UTF-8" in body["detail"]

    async def test_a_number_too_long_to_parse(self, api):
        body = problem(await raw_post(api, "/v1/brands", b'{"name": ' + b"9" * 5000 + b"}"), 422, "malformed-json")
        assert where(body, "pointer") == ["#"]

    async def test_absurd_nesting(self, api):
        problem(await raw_post(api, "/v1/brands", b"[" * 100_000 + b"]" * 100_000), 422, "malformed-json")

    @pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                              "application/xml", "multipart/form-data; boundary=x"])
    async def test_wrong_content_type_is_415(self, api, content_type, session):
        before = await count(session, "brands")
        r = await raw_post(api, "/v1/brands", b'{"name": "typed wrong"}', **{"content-type": content_type})
        body = problem(r, 415, "unsupported-media-type")
        assert where(body, "header") == ["Content-Type"]
        assert "application/json" in r.headers["accept-post"]
        assert await count(session, "brands") == before

    async def test_json_body_without_content_type_is_415(self, api):
        r = await api.client.post("/v1/brands", content=b'{"name": "untyped"}', headers=api.h())
        assert "content-type" not in r.request.headers
        problem(r, 415, "unsupported-media-type")

    async def test_json_suffix_media_types_are_json(self, api):
        r = await raw_post(api, "/v1/brands", b'{"name": "merge typed"}',
                           **{"content-type": "application/merge-patch+json"})
        assert r.status_code == 201, r.text

    async def test_charset_parameter_is_accepted(self, api):
        r = await raw_post(api, "/v1/brands", b'{"name": "charset"}',
                           **{"content-type": "application/json; charset=utf-8"})
        assert r.status_code == 201, r.text


class TestFieldErrors:
    async def test_missing_required_fields_are_each_named(self, api):
        body = problem(await api.post("/v1/users", {"kind": "employee"}), 422, "validation-error")
        assert set(where(body, "pointer")) >= {"#/email", "#/display_name"}
        assert all(e["type"] == "missing" for e in body["errors"])

    async def test_wrong_type(self, api):
        body = problem(await api.post("/v1/brands", {"name": 5}), 422, "validation-error")
        assert where(body, "pointer") == ["#/name"]
        assert body["detail"].startswith("#/name")

    async def test_wrong_type_nested_in_a_list_points_at_the_item(self, api):
        user = await api.user()
        body = problem(await api.post("/v1/tokens", {"user_id": user["id"], "scopes": ["posts:read", 7]}), 422)
        assert "#/scopes/1" in where(body, "pointer")

    async def test_extra_field(self, api):
        body = problem(await api.post("/v1/brands", {"name": "x", "colour": "red"}), 422, "validation-error")
        assert where(body, "pointer") == ["#/colour"]

    async def test_invalid_email(self, api):
        body = problem(await api.post("/v1/users", {"email": "not-an-email", "display_name": "X"}), 422)
        assert where(body, "pointer") == ["#/email"]

    async def test_invalid_enum(self, api):
        body = problem(await api.post("/v1/accounts", {"platform": "myspace", "handle": "h",
                                                       "brand_id": str(uuid.uuid4())}), 422)
        assert where(body, "pointer") == ["#/platform"]

    async def test_invalid_uuid_in_body(self, api):
        body = problem(await api.post("/v1/accounts", {"platform": "weibo", "handle": "h", "brand_id": "nope"}), 422)
        assert where(body, "pointer") == ["#/brand_id"]

    @pytest.mark.parametrize("value", ["a\u0000b", "\u0000"])
    async def test_nul_characters_are_refused_by_name(self, api, value, session):
        before = await count(session, "brands")
        body = problem(await api.post("/v1/brands", {"name": value}), 422, "validation-error")
        assert where(body, "pointer") == ["#/name"]
        assert "NUL" in body["detail"]
        assert await count(session, "brands") == before

    async def test_nul_in_an_optional_field(self, api):
        body = problem(await api.post("/v1/users", {"email": "nul@example.com", "display_name": "N",
                                                    "external_id": "E\u00001"}), 422)
        assert where(body, "pointer") == ["#/external_id"]

    async def test_absurdly_long_string(self, api):
        body = problem(await api.post("/v1/brands", {"name": "x" * 1_000_000}), 422, "validation-error")
        assert where(body, "pointer") == ["#/name"]
        assert body["errors"][0]["type"] == "string_too_long"
        assert len(json.dumps(body)) < 2000  # the input is not echoed back

    @pytest.mark.parametrize("value", ["2026-13-01", "2026-02-30", "yesterday", "", "20260101x"])
    async def test_invalid_date(self, api, value):
        body = problem(await api.post("/v1/users", {"email": "d@example.com", "display_name": "D",
                                                    "training_valid_until": value}), 422)
        assert where(body, "pointer") == ["#/training_valid_until"]

    @pytest.mark.parametrize("value", ["2030-02-30T00:00:00Z", "2030-01-01T25:00:00Z", "soon",
                                       "2030-01-01T00:00:00+25:00"])
    async def test_invalid_timestamp(self, api, value):
        user = await api.user()
        body = problem(await api.post("/v1/tokens", {"user_id": user["id"], "scopes": ["posts:read"],
                                                     "expires_at": value}), 422)
        assert where(body, "pointer") == ["#/expires_at"]

    @pytest.mark.parametrize("value", ["2030-01-01T00:00:00", "2030-01-01 09:00", "2030-01-01"])
    async def test_naive_timestamps_are_refused(self, api, value):
        user = await api.user()
        body = problem(await api.post("/v1/grants", {"user_id": user["id"], "role": "contributor",
                                                     "reason": "r", "expires_at": value}), 422)
        assert where(body, "pointer") == ["#/expires_at"]

    async def test_timestamp_past_the_calendar_is_a_422_not_a_500(self, api):
        user = await api.user()
        r = await api.post("/v1/tokens", {"user_id": user["id"], "scopes": ["posts:read"],
                                          "expires_at": "9999-12-31T23:59:59-14:00"})
        problem(r, 422)

    @pytest.mark.parametrize("value", [10**30, -(10**30), 1e308])
    async def test_huge_numbers_where_strings_belong(self, api, value):
        body = problem(await api.post("/v1/brands", {"name": value}), 422, "validation-error")
        assert where(body, "pointer") == ["#/name"]

    async def test_huge_number_as_a_date(self, api):
        body = problem(await api.post("/v1/users", {"email": "h@example.com", "display_name": "H",
                                                    "training_valid_until": 10**30}), 422)
        assert where(body, "pointer") == ["#/training_valid_until"]

    async def test_every_error_is_listed_and_the_detail_counts_them(self, api):
        body = problem(await api.post("/v1/users", {"email": 1, "display_name": 2, "kind": "robot", "x": 1}), 422)
        assert set(where(body, "pointer")) == {"#/email", "#/display_name", "#/kind", "#/x"}
        assert "3 more" in body["detail"]

    async def test_pointer_escapes_json_pointer_characters(self, api):
        body = problem(await api.post("/v1/brands", {"name": "x", "a/b~c": 1}), 422)
        assert where(body, "pointer") == ["#/a~1b~0c"]


class TestParameters:
    async def test_invalid_uuid_in_the_path(self, api):
        body = problem(await api.get("/v1/brands/not-a-uuid"), 422, "validation-error")
        assert where(body, "path_parameter") == ["brand_id"]

    @pytest.mark.parametrize("limit", ["0", "-1", "100000", "abc", "1.5", "", "99999999999999999999999999"])
    async def test_invalid_limit(self, api, limit):
        body = problem(await api.client.get(f"/v1/brands?limit={limit}", headers=api.h()), 422, "validation-error")
        assert where(body, "parameter") == ["limit"]

    async def test_invalid_uuid_filter(self, api):
        body = problem(await api.get("/v1/grants", user_id="nope"), 422)
        assert where(body, "parameter") == ["user_id"]

    async def test_invalid_boolean_filter(self, api):
        body = problem(await api.get("/v1/grants", active="maybe"), 422)
        assert where(body, "parameter") == ["active"]

    async def test_nul_in_a_search_parameter(self, api):
        body = problem(await api.get("/v1/users", q="a\u0000"), 422)
        assert where(body, "parameter") == ["q"]

    async def test_overlong_parameter(self, api):
        body = problem(await api.get("/v1/users", q="x" * 5000), 422)
        assert where(body, "parameter") == ["q"]


class TestAuthentication:
    async def test_missing_authorization(self, client):
        r = await client.get("/v1/brands")
        body = problem(r, 401, "unauthenticated")
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert where(body, "header") == ["Authorization"]

    @pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "sgv_abc", "Bearer not-ours",
                                       "Bearer sgv_" + "x" * 43, "Bearer sgv_" + "x" * 500, "Token sgv_abc",
                                       "Bearer \u00e9\u00e9"])
    async def test_garbled_authorization(self, client, value):
        r = await client.get("/v1/brands", headers={"Authorization": value.encode("utf-8")})
        body = problem(r, 401, "unauthenticated")
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert where(body, "header") == ["Authorization"]

    async def test_revoked_token(self, api):
        user = await api.user()
        created = await api.ok("POST", "/v1/tokens", {"user_id": user["id"], "scopes": ["posts:read"]})
        await api.client.delete(f"/v1/tokens/{created['id']}", headers=api.h())
        problem(await api.get("/v1/me", token=created["token"]), 401, "unauthenticated")

    async def test_authentication_is_checked_before_anything_else(self, client):
        r = await client.post("/v1/brands", json={"name": 5}, headers={"Idempotency-Key": "k"})
        problem(r, 401, "unauthenticated")


class TestScope:
    async def test_insufficient_scope_is_403_and_changes_nothing(self, api, session):
        user = await api.user()
        token = await api.token_for(user["id"], scopes=("posts:read",))
        before = await count(session, "brands")
        r = await api.post("/v1/brands", {"name": "not allowed"}, token=token)
        body = problem(r, 403, "insufficient-scope")
        assert body["required_scopes"] == [Scope.access_admin.value]
        assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
        assert await count(session, "brands") == before

    async def test_insufficient_scope_on_a_read(self, api):
        user = await api.user()
        token = await api.token_for(user["id"], scopes=("posts:read",))
        problem(await api.get("/v1/audit", token=token), 403, "insufficient-scope")


class TestServerErrors:
    """Unknown exceptions: a generic 500 problem with the request id and no internals."""

    @pytest.fixture
    async def boom_client(self, maker):
        app = create_app(Settings(database_url="postgresql://unused", audit_seal_interval=0), sessionmaker=maker)

        async def explode():
            raise RuntimeError("secret internals: password=hunter2")

        async def bad_sql():
            async with maker() as s:
                await s.execute(text("SELECT secret_column FROM no_such_table"))

        app.add_api_route("/boom", explode)
        app.add_api_route("/bad-sql", bad_sql)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            yield c

    async def test_unhandled_exception_is_a_generic_500(self, boom_client):
        r = await boom_client.get("/boom", headers={"X-Request-ID": "boom-1"})
        body = problem(r, 500, "internal-error")
        assert "hunter2" not in r.text and "RuntimeError" not in r.text
        assert body["request_id"] == "boom-1" == r.headers["x-request-id"]

    async def test_database_error_is_a_generic_500(self, boom_client):
        r = await boom_client.get("/bad-sql")
        body = problem(r, 500, "internal-error")
        assert "no_such_table" not in r.text and "secret_column" not in r.text
        assert body["request_id"] == r.headers["x-request-id"]


# --- no input produces a 500 --------------------------------------------------------------

NASTY = [None, True, 0, -1, 10**30, 1.5, "", " ", "\u0000", "a\u0000b", "x" * 5000, "\U0001F600" * 300,
         [], {}, [1], {"a": 1}, "00000000-0000-0000-0000-000000000000", "not-a-uuid", "2026-13-01",
         "2026-01-01T00:00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "9999-12-31",
         "admin", ["admin"], ["nope"], "'; DROP TABLE users; --", "%00", "\\u0000"]

QUERIES = ["limit=0", "limit=-1", "limit=1e3", "limit=99999999999999999999999", "limit=", "limit=1&limit=x",
           "cursor=", "cursor=%00", "cursor=" + "A" * 600, "cursor=W10", "cursor=WzFd", "cursor=W3RydWVd",
           "cursor=W251bGxd", "cursor=WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMF0", "cursor=%ff%fe", "status=zzz",
           "q=%00", "q=" + "x" * 300, "brand_id=nope", "active=maybe", "user_id=%00", "platform=myspace",
           "subject_type=%00", "subject_id=%00", "action=%00x", "since=garbage", "since=2020-01-01",
           "since=0001-01-01T00:00:00%2B14:00", "since=9999-12-31T23:59:59-14:00", "actor_id=x",
           "service_name=%00", "include_revoked=2", "needs_attention=x", "%ff=%ff", "limit=%00"]


def check_answer(r: httpx.Response, what) -> None:
    assert r.status_code < 500, (what, r.status_code, r.text)
    if r.status_code >= 400:
        assert r.headers["content-type"] == PROBLEM_JSON, (what, r.headers)
        body = r.json()
        assert body["status"] == r.status_code and body["type"] == PROBLEM_BASE + body["code"], (what, body)
        assert body["title"] and body["detail"], (what, body)


class TestNoInputGivesA500:
    async def test_nasty_field_values(self, api):
        user = await api.user()
        brand = await api.brand()
        bases = {
            "/v1/users": lambda n: {"email": f"fz{n}@example.com", "display_name": "Z", "external_id": f"E{n}",
                                    "kind": "employee", "training_valid_until": "2027-01-01"},
            "/v1/brands": lambda n: {"name": f"Fuzz {n}", "description": "d"},
            "/v1/accounts": lambda n: {"platform": "weibo", "handle": f"fz{n}", "brand_id": brand["id"],
                                       "region": "CN", "owner_id": user["id"], "two_factor_enabled": True},
            "/v1/grants": lambda n: {"user_id": user["id"], "role": "contributor", "brand_id": brand["id"],
                                     "reason": "r", "expires_at": "2030-01-01T00:00:00Z"},
            "/v1/tokens": lambda n: {"user_id": user["id"], "scopes": ["posts:read"], "name": f"n{n}",
                                     "expires_at": "2030-01-01T00:00:00Z"},
        }
        titles: dict[str, str] = {}
        n = 0
        for path, base in bases.items():
            for field in [*base(0), "service_name", "account_id"]:
                for value in NASTY:
                    n += 1
                    r = await api.post(path, {**base(n), field: value})
                    check_answer(r, (path, field, value))
                    if r.status_code >= 400:
                        # RFC 9457: the title is the same for every occurrence of a type.
                        body = r.json()
                        assert titles.setdefault(body["type"], body["title"]) == body["title"]

    async def test_nasty_values_in_updates(self, api):
        user = await api.user()
        brand = await api.brand()
        account = await api.account(brand["id"])
        grant = await api.grant(user["id"], "contributor", brand_id=brand["id"])
        targets = {
            f"/v1/users/{user['id']}": ["email", "external_id", "display_name", "kind", "status",
                                        "training_valid_until"],
            f"/v1/brands/{brand['id']}": ["name", "description"],
            f"/v1/accounts/{account['id']}": ["handle", "region", "owner_id", "status", "two_factor_enabled",
                                              "credential_custodian_id", "needs_owner"],
        }
        for path, fields in targets.items():
            for field in fields:
                for value in NASTY:
                    check_answer(await api.patch(path, {field: value}), (path, field, value))
        for value in NASTY:
            check_answer(await api.post(f"/v1/grants/{grant['id']}/revoke", {"reason": value}), ("revoke", value))

    async def test_odd_query_strings_on_lists(self, api):
        for path in ["/v1/users", "/v1/brands", "/v1/accounts", "/v1/grants", "/v1/tokens", "/v1/audit",
                     "/v1/audit/export", "/v1/me"]:
            for query in QUERIES:
                check_answer(await api.client.get(f"{path}?{query}", headers=api.h()), (path, query))

    async def test_odd_ids_in_paths(self, api):
        for path in ["/v1/users/{}", "/v1/brands/{}", "/v1/accounts/{}", "/v1/grants/{}", "/v1/users/{}/access"]:
            for value in ["%00", "x" * 3000, "00000000-0000-0000-0000-000000000000", "%ff", "..", "1", "%20"]:
                check_answer(await api.client.get(path.format(value), headers=api.h()), (path, value))

    async def test_odd_headers(self, api):
        brand = await api.brand()
        odd = [{"If-Match": "garbage"}, {"If-Match": '"99999999999999999999999"'}, {"If-Match": ""},
               {"Idempotency-Key": "\u00e9".encode()}, {"Idempotency-Key": "x" * 5000},
               {"X-Request-ID": ("\u00e9" * 500).encode()}, {"Content-Type": "application/json; charset=nope"},
               {"Content-Type": "garbage"}, {"Accept": "text/html"}]
        for extra in odd:
            r = await api.client.patch(f"/v1/brands/{brand['id']}", content=b'{"description": "d"}',
                                       headers=api.h(**{"content-type": "application/json", **extra}))
            check_answer(r, extra)
            r = await api.client.post("/v1/brands", content=json.dumps({"name": f"odd {uuid.uuid4()}"}).encode(),
                                      headers=api.h(**{"content-type": "application/json", **extra}))
            check_answer(r, extra)


class TestControlCharacters:
    """Free text refuses characters that forge or rewrite lines (app.types.Text); bodies,
    descriptions, comments and notes may span lines."""

    async def test_a_newline_in_a_single_line_field_is_refused_by_name(self, api, session):
        before = await count(session, "brands")
        body = problem(await api.post("/v1/brands", {"name": "Acme\nfake line"}), 422, "validation-error")
        assert where(body, "pointer") == ["#/name"]
        assert body["errors"][0]["type"] == "control_character"
        assert body["detail"] == "#/name: must not contain control characters (U+000A LF at position 4)"
        assert await count(session, "brands") == before

    async def test_a_bidi_override_in_a_reason_is_refused(self, api):
        user = await api.user()
        body = problem(await api.post("/v1/grants", {"user_id": user["id"], "role": "contributor",
                                                     "reason": "team \u202etxet"}), 422)
        assert where(body, "pointer") == ["#/reason"]
        assert "U+202E RIGHT-TO-LEFT OVERRIDE at position 5" in body["detail"]

    async def test_descriptions_keep_line_breaks(self, api):
        brand = await api.ok("POST", "/v1/brands", {"name": f"Lines {uuid.uuid4().hex[:6]}",
                                                    "description": "one\r\ntwo\n\tindented"})
        assert brand["description"] == "one\ntwo\n\tindented"
        body = problem(await api.patch(f"/v1/brands/{brand['id']}", {"description": "one\rtwo"}), 422)
        assert where(body, "pointer") == ["#/description"]
        assert "other than line feed and tab (U+000D CR at position 3)" in body["detail"]

    async def test_post_bodies_keep_line_breaks_and_joiners(self, api):
        account = await api.account((await api.brand())["id"])
        text_ = "Launch day!\n\nTeam \U0001F469\u200d\U0001F4BB\u200b\t#ad"
        post = await api.ok("POST", "/v1/posts", {"account_id": account["id"], "body": text_})
        assert post["body"] == text_
        body = problem(await api.post("/v1/posts", {"account_id": account["id"], "body": "ok\n\x1b[2J"}), 422)
        assert where(body, "pointer") == ["#/body"]

    @pytest.mark.parametrize(("path", "parameter"), [("/v1/users", "q"), ("/v1/audit", "subject_type"),
                                                     ("/v1/audit", "action"), ("/v1/tokens", "service_name")])
    async def test_query_parameters_are_single_line(self, api, path, parameter):
        body = problem(await api.get(path, **{parameter: "a\nb"}), 422)
        assert where(body, "parameter") == [parameter]
        assert "U+000A LF at position 1" in body["detail"]


# --- GraphQL's transport and oversized bodies -----------------------------------------------

def graphql_problem(r: httpx.Response, status: int, code: str) -> dict:
    """A problem document whose ``errors`` GraphQL clients read too."""
    body = problem(r, status, code)
    first = body["errors"][0]
    assert first["message"] == body["detail"], body
    assert first["extensions"]["code"] == code and first["extensions"]["status"] == status, body
    assert "data" not in body
    return body


class TestGraphQLTransport:
    """Strawberry answered these with plain-text 400s; /graphql answers as REST does."""

    async def test_a_mutation_over_get_is_405(self, api, session):
        before = await count(session, "posts")
        r = await api.client.get("/graphql", params={"query": 'mutation { createPost(input: {accountId: '
                                                               '"00000000-0000-0000-0000-000000000000", body: "x"}) '
                                                               "{ __typename } }"},
                                 headers=api.h(Accept="application/json"))
        body = graphql_problem(r, 405, "method-not-allowed")
        assert r.headers["allow"] == "POST" and body["allowed_methods"] == ["POST"]
        assert await count(session, "posts") == before

    async def test_a_query_over_get_runs(self, api):
        r = await api.client.get("/graphql", params={"query": "{ __typename }"}, headers=api.h(Accept="application/json"))
        assert r.status_code == 200 and r.json() == {"data": {"__typename": "Query"}}, r.text

    async def test_an_empty_body(self, api):
        body = graphql_problem(await raw_post(api, "/graphql", b""), 422, "validation-error")
        assert where(body, "pointer") == ["#"]

    @pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/graphql",
                                              "multipart/form-data; boundary=x"])
    async def test_a_wrong_content_type_is_415(self, api, content_type):
        r = await raw_post(api, "/graphql", b'{"query": "{ __typename }"}', **{"content-type": content_type})
        body = graphql_problem(r, 415, "unsupported-media-type")
        assert where(body, "header") == ["Content-Type"]

    async def test_no_content_type_is_415(self, api):
        r = await api.client.post("/graphql", content=b'{"query": "{ __typename }"}', headers=api.h())
        graphql_problem(r, 415, "unsupported-media-type")

    @pytest.mark.parametrize("content", [b'{"query": ', b"query { __typename }", b"\xff\xfe{}"])
    async def test_a_body_that_is_not_json(self, api, content):
        body = graphql_problem(await raw_post(api, "/graphql", content), 422, "malformed-json")
        assert where(body, "pointer") == ["#"]

    @pytest.mark.parametrize(("content", "pointer"), [
        (b"{}", "#/query"), (b'{"query": null}', "#/query"), (b'{"query": ""}', "#/query"),
        (b'{"query": 42}', "#/query"), (b'{"query": "{ __typename }", "variables": []}', "#/variables"),
        (b'{"query": "{ __typename }", "operationName": 1}', "#/operationName"),
        (b'{"query": "{ __typename }", "extensions": "x"}', "#/extensions"),
        (b'[{"query": "{ __typename }"}]', "#"), (b'"{ __typename }"', "#"),
    ])
    async def test_a_body_without_a_usable_query(self, api, content, pointer):
        body = graphql_problem(await raw_post(api, "/graphql", content), 422, "validation-error")
        assert where(body, "pointer") == [pointer]

    async def test_get_without_a_query(self, api):
        r = await api.client.get("/graphql", headers=api.h(Accept="application/json"))
        body = graphql_problem(r, 422, "validation-error")
        assert where(body, "parameter") == ["query"]

    async def test_get_with_variables_that_are_not_json(self, api):
        r = await api.client.get("/graphql", params={"query": "{ __typename }", "variables": "{nope"},
                                 headers=api.h(Accept="application/json"))
        assert where(graphql_problem(r, 422, "validation-error"), "parameter") == ["variables"]

    async def test_a_browser_still_gets_graphiql(self, api):
        r = await api.client.get("/graphql", headers={"Accept": "text/html"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")

    async def test_a_bad_token_speaks_graphql_too(self, client):
        r = await client.post("/graphql", json={"query": "{ me { name } }"}, headers={"Authorization": "Bearer sgv_nope"})
        assert where(graphql_problem(r, 401, "unauthenticated"), "header") == ["Authorization"]

    async def test_two_operations_without_operation_name(self, api):
        r = await api.client.post("/graphql", json={"query": "query A { __typename } query B { me { name } }"},
                                  headers=api.h())
        assert where(graphql_problem(r, 400, "operation-name-required"), "pointer") == ["#/operationName"]

    async def test_a_document_over_the_cap_is_413(self, api):
        r = await api.client.post("/graphql", json={"query": "{" + " __typename" * 2000 + " }"}, headers=api.h())
        body = graphql_problem(r, 413, "query-too-large")
        assert body["limit"] == "graphql_max_document_bytes" and body["maximum"] == 16384  # the default


class TestOversizedBodies:
    """Over 1 MiB, announced or not, on any route: a 413 problem (FastAPI's limiter answered
    text/plain when the Content-Length announced it)."""

    BIG = b'{"name": "' + b"x" * 1_100_000 + b'"}'

    async def test_announced_by_content_length(self, api, session):
        before = await count(session, "brands")
        r = await raw_post(api, "/v1/brands", self.BIG)
        assert r.request.headers["content-length"] == str(len(self.BIG))
        body = problem(r, 413, "payload-too-large")
        assert "1048576" in body["detail"]
        assert await count(session, "brands") == before

    async def test_chunked(self, api):
        async def chunks():
            for i in range(0, len(self.BIG), 65536):
                yield self.BIG[i:i + 65536]

        r = await api.client.post("/v1/brands", content=chunks(), headers=api.h(**JSON))
        assert "content-length" not in r.request.headers
        problem(r, 413, "payload-too-large")

    async def test_on_a_route_that_reads_no_body(self, api):
        r = await api.client.request("DELETE", f"/v1/tokens/{uuid.uuid4()}", content=self.BIG, headers=api.h(**JSON))
        problem(r, 413, "payload-too-large")

    async def test_on_graphql(self, api):
        graphql_problem(await raw_post(api, "/graphql", self.BIG), 413, "payload-too-large")

    async def test_a_body_at_the_cap_is_read(self, api):
        content = b'{"name": "' + b" " * (1_048_576 - 25) + b'at the cap"}'
        r = await raw_post(api, "/v1/brands", content + b" " * (1_048_576 - len(content)))
        assert r.status_code != 413, r.text
