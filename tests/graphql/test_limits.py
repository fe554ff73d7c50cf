"""GraphQL limits: a document is measured before it costs CPU — its bytes, then its tokens, then
the depth, aliases and root fields of the operation that would run — and a document over a
limit is refused with a problem naming the limit and the value, before any SQL (even the
token lookup). A document with several operations must name the one to run."""
from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from graphql import get_introspection_query
from sqlalchemy import event

from app.main import create_app
from tests.support.app import Api, make_client, settings_for
from tests.support.processes import env, free_port, stop as stop_process, wait_healthy
from tests.support.problems import problem

ROOT = Path(__file__).resolve().parents[2]
LIMITS = settings_for()  # what the app under test reads (the defaults unless SOCIALGOV_GRAPHQL_* is set)
BYTES, TOKENS = LIMITS.graphql_max_document_bytes, LIMITS.graphql_max_tokens


def refused(r: httpx.Response, status: int, code: str) -> dict:
    """A problem document that GraphQL clients understand too: ``errors[0].extensions.code``."""
    body = problem(r, status, code)
    first = body["errors"][0]
    assert first["message"] == body["detail"] and first["extensions"]["code"] == code, body
    assert first["extensions"]["status"] == status
    assert "data" not in body
    return body


def over_limit(r: httpx.Response, status: int, code: str, limit: str, maximum: int) -> dict:
    body = refused(r, status, code)
    assert body["limit"] == limit and body["maximum"] == maximum, body
    assert body["errors"][0]["extensions"]["limit"] == limit
    return body


def aliases(n: int, field: str = "__typename") -> str:
    return "{" + " ".join(f"a{i}: {field}" for i in range(n)) + "}"


def nested(levels: int) -> str:
    """``{ f { f { ... { f } } } }``: ``levels`` selection sets below the root field."""
    return "{ " + "f { " * levels + "f" + " }" * levels + " }"


@pytest.fixture
def statements(engine) -> list[str]:
    """Every SQL statement sent while the test runs (the app's sessions use this engine)."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine.sync_engine, "before_cursor_execute", record)


async def post(api, query: str, **extra) -> httpx.Response:
    return await api.client.post("/graphql", json={"query": query, **extra}, headers=api.h())


@pytest.fixture
async def tight(maker, admin_token) -> Api:
    """An app with small limits, to show they are read from the settings."""
    settings = settings_for().model_copy(update={
        "graphql_max_document_bytes": 64, "graphql_max_tokens": 40, "graphql_max_depth": 2,
        "graphql_max_aliases": 3, "graphql_max_root_fields": 2})
    async with make_client(create_app(settings, sessionmaker=maker)) as client:
        yield Api(client, admin_token)


class TestDocumentSize:
    async def test_the_abusive_document_is_a_413_before_any_sql(self, api, statements):
        query = aliases(40_000)
        statements.clear()
        body = over_limit(await post(api, query), 413, "query-too-large", "graphql_max_document_bytes", BYTES)
        assert body["actual"] == len(query.encode()) and str(body["actual"]) in body["detail"]
        assert statements == []  # not even the bearer token was looked up

    async def test_a_document_at_the_cap_runs_and_one_byte_more_is_refused(self, api):
        query = "{ __typename }"
        at_cap = query + " " * (BYTES - len(query))
        r = await post(api, at_cap)
        assert r.status_code == 200 and r.json()["data"] == {"__typename": "Query"}, r.text
        over_limit(await post(api, at_cap + " "), 413, "query-too-large", "graphql_max_document_bytes", BYTES)

    async def test_the_cap_counts_utf8_bytes(self, api):
        query = "{ __typename } # " + "é" * (BYTES // 2)  # fewer characters than the cap, more bytes
        over_limit(await post(api, query), 413, "query-too-large", "graphql_max_document_bytes", BYTES)

    async def test_over_get(self, api):
        r = await api.client.get("/graphql", params={"query": aliases(2000)},
                                 headers=api.h(Accept="application/json"))
        over_limit(r, 413, "query-too-large", "graphql_max_document_bytes", BYTES)

    async def test_over_get_refused_before_the_query_string_is_decoded(self, api, statements):
        statements.clear()
        r = await api.client.get("/graphql?query=" + "%7B" * 20_000, headers=api.h(Accept="application/json"))
        over_limit(r, 413, "query-too-large", "graphql_max_document_bytes", BYTES)
        assert statements == []

    async def test_the_cap_is_the_setting(self, tight):
        r = await tight.client.post("/graphql", json={"query": "{ me { name } }"}, headers=tight.h())
        assert r.status_code == 200, r.text
        r = await tight.client.post("/graphql", json={"query": "{ me { name } }" + " " * 60}, headers=tight.h())
        over_limit(r, 413, "query-too-large", "graphql_max_document_bytes", 64)


class TestTokens:
    async def test_more_tokens_than_the_cap(self, api, statements):
        statements.clear()
        body = over_limit(await post(api, "{ " + "__typename " * TOKENS + "}"), 400, "query-too-many-tokens",
                          "graphql_max_tokens", TOKENS)
        assert str(TOKENS) in body["detail"]
        assert statements == []

    async def test_comments_count(self, api):
        over_limit(await post(api, "#\n" * (TOKENS + 1) + "{ __typename }"), 400, "query-too-many-tokens",
                   "graphql_max_tokens", TOKENS)

    async def test_the_cap_is_the_setting(self, tight):
        r = await tight.client.post("/graphql", json={"query": "{a" * 21 + "}" * 21}, headers=tight.h())
        over_limit(r, 400, "query-too-many-tokens", "graphql_max_tokens", 40)

    async def test_a_syntax_error_under_the_cap_is_still_graphqls_answer(self, api):
        r = await post(api, "{ me { name }")
        assert r.status_code == 200, r.text
        assert "Syntax Error" in r.json()["errors"][0]["message"]


class TestDepth:
    async def test_eleven_levels_are_refused_before_validation(self, api, statements):
        statements.clear()
        body = over_limit(await post(api, nested(11)), 400, "query-too-deep", "graphql_max_depth", 10)
        assert body["actual"] == 11
        assert statements == []

    async def test_ten_levels_go_on_to_validation(self, api):
        r = await post(api, nested(10))
        assert r.status_code == 200, r.text
        assert "Cannot query field 'f'" in r.json()["errors"][0]["message"]

    async def test_depth_counts_through_fragments(self, api):
        query = ("{ ...A } fragment A on Query { f { f { f { ...B } } } }"
                 " fragment B on X { f { f { f { ...C } } } } fragment C on X { f { f { f { f { f { f } } } } } }")
        body = over_limit(await post(api, query), 400, "query-too-deep", "graphql_max_depth", 10)
        assert body["actual"] == 11

    async def test_nested_too_deeply_to_parse(self, api):
        over_limit(await post(api, "{ f " * 400 + "}" * 400), 400, "query-too-deep", "graphql_max_depth", 10)

    @pytest.mark.parametrize("options", [{}, {"descriptions": True, "specified_by_url": True, "directive_is_repeatable": True,
                                              "schema_description": True, "input_value_deprecation": True,
                                              "one_of": True}], ids=["default", "graphiql"])
    async def test_the_introspection_query_fits(self, api, options):
        r = await post(api, get_introspection_query(**options), operationName="IntrospectionQuery")
        assert r.status_code == 200, r.text
        assert not r.json().get("errors") and r.json()["data"]["__schema"]["queryType"]["name"] == "Query"

    async def test_the_limit_is_the_setting(self, tight):
        ok = await tight.client.post("/graphql", json={"query": "{ posts { items { id } } }"}, headers=tight.h())
        assert ok.status_code == 200 and not ok.json().get("errors"), ok.text
        r = await tight.client.post("/graphql", json={"query": "{ posts { items { currentRevision { risk } } } }"},
                                    headers=tight.h())
        assert over_limit(r, 400, "query-too-deep", "graphql_max_depth", 2)["actual"] == 3


class TestAliases:
    async def test_thirty_one_aliases_are_refused(self, api, statements):
        query = "{ me { " + " ".join(f"a{i}: name" for i in range(31)) + " } }"
        statements.clear()
        body = over_limit(await post(api, query), 400, "query-too-many-aliases", "graphql_max_aliases", 30)
        assert body["actual"] == 31
        assert statements == []

    async def test_thirty_aliases_run(self, api):
        r = await post(api, "{ me { " + " ".join(f"a{i}: name" for i in range(30)) + " } }")
        assert r.status_code == 200 and len(r.json()["data"]["me"]) == 30, r.text

    async def test_repeated_fields_count_as_aliases(self, api):
        """``{ me { id id id … } }`` costs graphql-core's overlapping-fields rule a comparison
        per pair: refused like aliases, before validation."""
        body = over_limit(await post(api, "{ me { " + "id " * (TOKENS - 10) + "} }"), 400, "query-too-many-aliases",
                          "graphql_max_aliases", 30)
        assert body["actual"] == TOKENS - 11

    async def test_repeats_through_fragments_count(self, api):
        query = ("{ me { " + " ".join(f"...F{i}" for i in range(40)) + " } } "
                 + " ".join(f"fragment F{i} on Me {{ id }}" for i in range(40)))
        over_limit(await post(api, query), 400, "query-too-many-aliases", "graphql_max_aliases", 30)

    async def test_aliases_in_a_fragment_count_where_it_is_used(self, api):
        fragment = "fragment M on Me { " + " ".join(f"n{i}: name" for i in range(10)) + " }"
        once = await post(api, "{ a: me { ...M } } " + fragment)
        assert once.status_code == 200, once.text
        body = over_limit(await post(api, "{ a: me { ...M } b: me { ...M } c: me { ...M } } " + fragment), 400,
                          "query-too-many-aliases", "graphql_max_aliases", 30)
        assert body["actual"] == 3 + 3 * 10

    async def test_a_fragment_spread_twice_in_one_selection_is_merged_not_counted_twice(self, api):
        query = "{ me { ...M ...M } } fragment M on Me { n1: name n2: name }"
        r = await post(api, query)
        assert r.status_code == 200 and r.json()["data"]["me"].keys() == {"n1", "n2"}, r.text


class TestRootFields:
    async def test_twenty_one_root_fields_are_refused(self, api):
        body = over_limit(await post(api, aliases(21)), 400, "query-too-many-root-fields",
                          "graphql_max_root_fields", 20)
        assert body["actual"] == 21

    async def test_twenty_root_fields_run(self, api):
        r = await post(api, aliases(20))
        assert r.status_code == 200 and len(r.json()["data"]) == 20, r.text

    async def test_root_fields_count_through_fragments(self, api):
        query = "{ ...R ... on Query { b: __typename } } fragment R on Query { " + aliases(20)[1:-1] + " }"
        over_limit(await post(api, query), 400, "query-too-many-root-fields", "graphql_max_root_fields", 20)

    async def test_the_limit_is_the_setting(self, tight):
        r = await tight.client.post("/graphql", json={"query": "{ me { name } a: __typename b: __typename }"},
                                    headers=tight.h())
        over_limit(r, 400, "query-too-many-root-fields", "graphql_max_root_fields", 2)


class TestWhichOperation:
    async def test_two_operations_without_a_name_are_refused(self, api, statements):
        statements.clear()
        body = refused(await post(api, "query A { me { name } } query B { __typename }"), 400,
                       "operation-name-required")
        assert "A, B" in body["detail"] and body["errors"][0]["pointer"] == "#/operationName"
        assert statements == []

    async def test_the_named_operation_runs(self, api):
        r = await post(api, "query A { a: __typename } query B { b: __typename }", operationName="B")
        assert r.status_code == 200 and r.json()["data"] == {"b": "Query"}, r.text

    async def test_an_unknown_operation_name(self, api):
        body = refused(await post(api, "query A { __typename }", operationName="Nope"), 400, "unknown-operation")
        assert "'Nope'" in body["detail"]

    async def test_a_document_without_an_operation(self, api):
        refused(await post(api, "fragment F on Query { __typename }"), 400, "unknown-operation")

    async def test_the_limits_are_those_of_the_operation_that_runs(self, api):
        query = "query Small { __typename } query Big " + aliases(40)
        r = await post(api, query, operationName="Small")
        assert r.status_code == 200, r.text
        over_limit(await post(api, query, operationName="Big"), 400, "query-too-many-root-fields",
                   "graphql_max_root_fields", 20)


# --- a real server under abuse ----------------------------------------------------------------

def abusive_bodies() -> dict[str, bytes]:
    """What the review sent: ~750 KB documents of aliases and of duplicate fields."""
    return {"aliases": json.dumps({"query": aliases(40_000)}).encode(),
            "duplicates": json.dumps({"query": "{ me { " + "id " * 250_000 + "} }"}).encode(),
            "over the body cap": b'{"query": "' + b" " * 2_000_000 + b'{ __typename }"}'}


@pytest.mark.committed
async def test_a_crisis_is_declared_while_abusive_documents_are_in_flight(databases, tmp_path):
    """``socialgov serve`` as a process: three abusive documents are sent in a loop, at once,
    with a posts:read token while a crisis is declared and resolved. The declaration succeeds;
    every abusive document is refused with a 413 problem that GraphQL clients can read."""
    name, url = await databases.clone()
    admin = "sgv_" + secrets.token_hex(20)
    port = free_port()
    with (tmp_path / "serve.log").open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], cwd=ROOT,
                                env=env(DATABASE_URL=url, SOCIALGOV_BOOTSTRAP_TOKEN=admin,
                                        SOCIALGOV_LOG_LEVEL="WARNING"),
                                stdout=subprocess.DEVNULL, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_healthy(base, proc)
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            api = Api(client, admin)
            brand = await api.brand()
            account = await api.account(brand["id"])
            reader = (await api.ok("POST", "/v1/tokens", {"service_name": "reader", "scopes": ["posts:read"]}))["token"]
            answers: dict[str, list[httpx.Response]] = {kind: [] for kind in abusive_bodies()}
            stop = asyncio.Event()
            first = asyncio.Event()

            async def abuse(kind: str, body: bytes) -> None:
                async with httpx.AsyncClient(base_url=base, timeout=60) as own:
                    while not stop.is_set():
                        answers[kind].append(await own.post("/graphql", content=body, headers={
                            "Authorization": f"Bearer {reader}", "Content-Type": "application/json"}))
                        first.set()

            tasks = [asyncio.create_task(abuse(kind, body)) for kind, body in abusive_bodies().items()]
            try:
                await asyncio.wait_for(first.wait(), 30)
                crisis = await api.ok("POST", "/v1/crises", {"severity": 2, "scope": {"account_ids": [account["id"]]},
                                                             "reason": "account hijacked"})
                assert crisis["status"] == "active"
                resolved = await api.ok("POST", f"/v1/crises/{crisis['id']}/resolve", {"resolution": "review"},
                                        status=200)
                assert resolved["status"] == "resolved"
            finally:
                stop.set()
                await asyncio.gather(*tasks)
            for r in answers["aliases"] + answers["duplicates"]:
                over_limit(r, 413, "query-too-large", "graphql_max_document_bytes", BYTES)
            for r in answers["over the body cap"]:
                refused(r, 413, "payload-too-large")
            assert all(answers.values()), {kind: len(rs) for kind, rs in answers.items()}
            assert (await client.get("/healthz")).status_code == 200
    finally:
        stop_process(proc)
        await databases.drop(name)
