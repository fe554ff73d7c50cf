"""Crisis use cases and publishing by hand, run over REST and over GraphQL: the same outcome,
the same error code (and HTTP status).

Where a step changes state, each adapter gets its own twin (posts brought to the same state
over REST, or crises over disjoint scopes) and the normalised outcomes must be equal.
"""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tests.support.parity import Both, from_graphql, from_rest
from tests.support.graphql import POST_FIELDS, Gql
from tests.support.posts import SCOPES, Flow, Newsroom, Person
from tests.support.publishing import approved, crisis_lead, later, scheduled
from tests.support.parity import camel, camelised  # noqa: F401

CRISIS = "crisis { id status severity pausedCount resolution scope { organization brandIds accountIds } }"
PROBLEM = "... on Error { code status } ... on Problem { pointer errors { pointer } }"
FIELDS = {
    "declareCrisis": f"__typename ... on DeclareCrisisPayload {{ inFlightPublished {CRISIS} }} {PROBLEM}",
    "previewCrisis": f"__typename ... on CrisisPreview {{ wouldPause scope {{ organization brandIds accountIds }} }}"
                     f" {PROBLEM}",
    "resolveCrisis": f"""__typename ... on ResolveCrisisPayload {{ {CRISIS}
                         counts {{ review resumed unscheduled cancelled stillPaused }} }} {PROBLEM}""",
}
MUTATION = """mutation($input: %s!) { %s(input: $input) { %s } }"""


def camelised_pointer(pointer: str | None) -> str | None:
    return None if pointer is None else "/".join(camel(p) for p in pointer.split("/"))


def snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def rest_crisis(r) -> dict:
    """A crisis answer (declare, preview or resolve) over REST, normalised."""
    body = r.json()
    if r.status_code >= 400:
        where = next((e.get("pointer") for e in body.get("errors", []) if e.get("pointer")), body.get("pointer"))
        return {"outcome": r.status_code, "code": body["code"], "pointer": camelised_pointer(where)}
    if body.get("dry_run"):
        return {"outcome": "ok", "would_pause": body["would_pause"], "scope": body["scope"]}
    out = {"outcome": "ok", "status": body["status"], "severity": body["severity"],
           "paused_count": body["paused_count"], "resolution": body["resolution"], "scope": body["scope"]}
    if "in_flight_published" in body:
        out["in_flight_published"] = body["in_flight_published"]
    if "counts" in body:
        out["counts"] = body["counts"]
    return out


def graphql_crisis(result: dict) -> dict:
    kind = result["__typename"]
    if kind == "Problem":
        where = result["pointer"] or next((e["pointer"] for e in result["errors"] or () if e["pointer"]), None)
        return {"outcome": result["status"], "code": result["code"], "pointer": where}
    scope = lambda s: {snake(k): v for k, v in s.items()}  # noqa: E731
    if kind == "CrisisPreview":
        return {"outcome": "ok", "would_pause": result["wouldPause"], "scope": scope(result["scope"])}
    c = result["crisis"]
    out = {"outcome": "ok", "status": c["status"], "severity": c["severity"], "paused_count": c["pausedCount"],
           "resolution": c["resolution"], "scope": scope(c["scope"])}
    if kind == "DeclareCrisisPayload":
        out["in_flight_published"] = result["inFlightPublished"]
    if kind == "ResolveCrisisPayload":  # REST lists only the resolution's own outcomes
        out["counts"] = {snake(k): v for k, v in result["counts"].items() if v is not None}
    return out


class Crises:
    """Runs one crisis step over REST and its twin over GraphQL."""

    def __init__(self, api, gql: Gql):
        self.api = api
        self.gql = gql

    async def graphql(self, mutation: str, input_type: str, payload: dict, by: Person) -> dict:
        data = await self.gql.data(MUTATION % (input_type, mutation, FIELDS[mutation]), {"input": payload},
                                   token=by.token)
        return data[mutation]

    async def declare(self, by: Person, body: dict, twin: dict | None = None, *, dry_run: bool = False) -> dict:
        """``twin``: the GraphQL side's body when it must differ (a disjoint scope)."""
        r = await self.api.post("/v1/crises" + ("?dry_run=true" if dry_run else ""), body, token=by.token)
        rest = rest_crisis(r)
        raw = await self.graphql("previewCrisis" if dry_run else "declareCrisis", "DeclareCrisisInput",
                                 camelised(twin or body), by)
        graphql = graphql_crisis(raw)
        if twin is not None:  # the scopes differ by design
            rest.pop("scope", None)
            graphql.pop("scope", None)
        assert rest == graphql, ("declare", rest, graphql)
        if rest["outcome"] == "ok" and not dry_run:
            return {**rest, "ids": (r.json()["id"], raw["crisis"]["id"])}
        return rest

    async def resolve(self, by: Person, twins: tuple[str, str], body: dict | None = None) -> dict:
        r = await self.api.post(f"/v1/crises/{twins[0]}/resolve", body, token=by.token)
        rest = rest_crisis(r)
        graphql = graphql_crisis(await self.graphql("resolveCrisis", "ResolveCrisisInput",
                                                    {"crisisId": twins[1], **camelised(body or {})}, by))
        if rest["outcome"] == "ok":  # twins may have disjoint scopes
            rest.pop("scope")
            graphql.pop("scope")
        assert rest == graphql, ("resolve", rest, graphql)
        return rest


@pytest.fixture
def crises(api, gql) -> Crises:
    return Crises(api, gql)


@pytest.fixture
def both(flow, gql) -> Both:
    return Both(flow, gql)


async def publish_step(flow: Flow, gql: Gql, action: str, twins: tuple[dict, dict], by: Person, *,
                       version: Any = "current") -> dict:
    """publish | retract: REST on the first twin, GraphQL on the second."""
    rest_post, gql_post = twins
    offset = 0 if version in ("current", None) else version
    headers = {} if version is None else {"If-Match": f'"{rest_post["version"] + offset}"'}
    r = await flow.api.post(f"/v1/posts/{rest_post['id']}/{action}", token=by.token, **headers)
    payload = {"postId": gql_post["id"]}
    if version is not None:
        payload["expectedVersion"] = gql_post["version"] + offset
    result = await gql.mutate(f"{action}Post", payload, token=by.token, fields=POST_FIELDS)
    rest, graphql = from_rest(r), from_graphql(result)
    assert rest == graphql, (action, rest, graphql)
    return rest


async def twins(make) -> tuple[dict, dict]:
    return await make(), await make()


async def second_account(api, room: Newsroom) -> dict:
    """Another account of the brand, run by the same people under the same policy."""
    account = await api.account(room.brand["id"])
    await api.ok("PATCH", f"/v1/accounts/{account['id']}", {"approval_policy_id": room.policy["id"]})
    for who, role in ((room.author, "contributor"), (room.editor, "approver"), (room.publisher, "publisher")):
        await api.grant(who.id, role, account_id=account["id"])
    return account


async def scheduled_on(api, room: Newsroom, account_id: str, body: str, hours: int = 1) -> dict:
    post = await api.ok("POST", "/v1/posts", {"account_id": account_id, "body": body}, token=room.author.token)
    for action, by, json in (("submit", room.author, None), ("approve", room.editor, {"revision": 1}),
                             ("schedule", room.publisher, {"scheduled_at": later(hours=hours)})):
        post = await api.ok("POST", f"/v1/posts/{post['id']}/{action}", json, token=by.token, status=200)
    return post


class TestPublish:
    async def test_publish(self, flow, gql, newsroom):
        out = await publish_step(flow, gql, "publish", await twins(lambda: approved(flow)), newsroom.publisher)
        assert (out["outcome"], out["status"], out["allowed_transitions"]) == ("ok", "published", ["retract"])

    async def test_refusals(self, flow, gql, newsroom):
        out = await publish_step(flow, gql, "publish", await twins(flow.draft), newsroom.publisher)
        assert (out["outcome"], out["code"], out["allowed_transitions"]) == (409, "invalid-transition",
                                                                           ["submit", "withdraw"])
        ready = await twins(lambda: approved(flow))
        out = await publish_step(flow, gql, "publish", ready, newsroom.publisher, version=-1)
        assert (out["outcome"], out["code"]) == (412, "precondition-failed")
        out = await publish_step(flow, gql, "publish", ready, newsroom.author)
        assert (out["outcome"], out["code"]) == (403, "post-action-forbidden")
        out = await publish_step(flow, gql, "publish", ready, newsroom.outsider)
        assert (out["outcome"], out["code"]) == (404, "post-not-found")
        read_only = Person(newsroom.publisher.id, await flow.api.token_for(newsroom.publisher.id,
                                                                           scopes=("posts:read",)))
        out = await publish_step(flow, gql, "publish", ready, read_only)
        assert (out["outcome"], out["code"]) == (403, "insufficient-scope")

    async def test_publish_during_a_crisis_is_refused_the_same_way(self, api, flow, gql, newsroom):
        lead = await crisis_lead(api)
        ready = await twins(lambda: approved(flow, "approved before the crisis"))
        await api.ok("POST", "/v1/crises", {"scope": {"brand_ids": [newsroom.brand["id"]]}, "reason": "recall",
                                            "responders": [newsroom.publisher.id]}, token=lead.token)
        out = await publish_step(flow, gql, "publish", ready, newsroom.publisher)
        assert (out["outcome"], out["code"]) == (423, "crisis-freeze")
        # A holding statement written under the crisis goes out by a responder's hand, over both.
        statements = await twins(lambda: approved(flow, "We are aware of the issue and are investigating."))
        out = await publish_step(flow, gql, "publish", statements, newsroom.publisher)
        assert (out["outcome"], out["status"]) == ("ok", "published")

    async def test_retract(self, api, flow, gql, newsroom):
        async def published():
            post = await approved(flow)
            return await flow.act(post, "publish", newsroom.publisher)

        done = await twins(published)
        out = await publish_step(flow, gql, "retract", done, newsroom.author)
        assert (out["outcome"], out["code"]) == (403, "post-action-forbidden")
        out = await publish_step(flow, gql, "retract", done, newsroom.publisher, version=-1)
        assert (out["outcome"], out["code"]) == (412, "precondition-failed")
        out = await publish_step(flow, gql, "retract", done, newsroom.publisher)
        assert (out["outcome"], out["status"], out["allowed_transitions"]) == ("ok", "retracted", [])
        fresh = tuple([(await api.get(f"/v1/posts/{p['id']}", token=newsroom.author.token)).json() for p in done])
        out = await publish_step(flow, gql, "retract", fresh, newsroom.publisher)
        assert (out["outcome"], out["code"]) == (409, "invalid-transition")


class TestDeclare:
    async def test_who_may_declare(self, api, crises, newsroom):
        body = {"scope": {"organization": True}, "reason": "x"}
        not_a_lead = Person(newsroom.publisher.id, await api.token_for(
            newsroom.publisher.id, scopes=(*SCOPES, "crisis:declare", "crisis:resolve")))
        out = await crises.declare(not_a_lead, body)
        assert (out["outcome"], out["code"]) == (403, "cannot-declare")
        out = await crises.declare(not_a_lead, body, dry_run=True)
        assert (out["outcome"], out["code"]) == (403, "cannot-declare")
        lead = await crisis_lead(api)
        no_scope = Person(lead.id, await api.token_for(lead.id, scopes=SCOPES))
        out = await crises.declare(no_scope, body)
        assert (out["outcome"], out["code"]) == (403, "insufficient-scope")
        assert (await api.get("/v1/crises", token=lead.token)).json()["items"] == []

    async def test_bad_input(self, api, crises, newsroom):
        lead = await crisis_lead(api)
        out = await crises.declare(lead, {"scope": {"brand_ids": ["00000000-0000-0000-0000-000000000001"]},
                                          "reason": "x"})
        assert (out["outcome"], out["code"], out["pointer"]) == (404, "not-found", "#/scope/brandIds/0")
        out = await crises.declare(lead, {"scope": {"organization": True}, "reason": "x",
                                          "ends_at": "2001-01-01T00:00:00Z"})
        assert (out["outcome"], out["code"], out["pointer"]) == (422, "validation-error", "#/endsAt")
        out = await crises.declare(lead, {"scope": {"organization": False}, "reason": "x"})
        assert (out["outcome"], out["code"]) == (422, "validation-error")

    async def test_preview(self, api, crises, flow, newsroom):
        lead = await crisis_lead(api)
        await scheduled(flow, "one")
        await scheduled(flow, "two")
        out = await crises.declare(lead, {"scope": {"brand_ids": [newsroom.brand["id"]]}, "reason": "x"},
                                   dry_run=True)
        assert out["would_pause"] == 2
        assert (await api.get("/v1/crises", token=lead.token)).json()["items"] == []

    async def test_declare_then_resume_give_the_same_counts(self, api, crises, newsroom, session):
        lead = await crisis_lead(api)
        other = await second_account(api, newsroom)
        sides = (newsroom.account["id"], other["id"])
        posts = {acc: (await scheduled_on(api, newsroom, acc, "future"), await scheduled_on(api, newsroom, acc, "past"))
                 for acc in sides}
        body = {"severity": 3, "reason": "recall"}
        out = await crises.declare(lead, {**body, "scope": {"account_ids": [sides[0]]}},
                                   {**body, "scope": {"account_ids": [sides[1]]}})
        assert (out["status"], out["paused_count"], out["in_flight_published"]) == ("active", 2, [])
        for acc in sides:
            await session.execute(text("UPDATE posts SET scheduled_at = now() - interval '1 hour' "
                                       "WHERE id = :i"), {"i": posts[acc][1]["id"]})
        await session.commit()
        out = await crises.resolve(lead, out["ids"], {"resolution": "resume", "note": "over"})
        assert (out["status"], out["resolution"], out["counts"]) == (
            "resolved", "resume", {"resumed": 1, "unscheduled": 1, "still_paused": 0})
        statuses = [[(await api.get(f"/v1/posts/{p['id']}", token=newsroom.author.token)).json()["status"]
                     for p in posts[acc]] for acc in sides]
        assert statuses == [["scheduled", "approved"], ["scheduled", "approved"]]


class TestResolve:
    async def test_resolve_twice_is_the_same_conflict(self, api, crises, newsroom):
        lead = await crisis_lead(api)
        made = [await api.ok("POST", "/v1/crises", {"scope": {"organization": True}, "reason": "x"}, token=lead.token)
                for _ in range(2)]
        pair = (made[0]["id"], made[1]["id"])
        not_a_lead = Person(newsroom.publisher.id, await api.token_for(
            newsroom.publisher.id, scopes=(*SCOPES, "crisis:resolve")))
        out = await crises.resolve(not_a_lead, pair)
        assert (out["outcome"], out["code"]) == (403, "cannot-declare")
        out = await crises.resolve(lead, pair, {"resolution": "cancel"})
        assert (out["status"], out["resolution"], out["counts"]) == ("resolved", "cancel",
                                                                     {"cancelled": 0, "still_paused": 0})
        out = await crises.resolve(lead, pair, {"resolution": "cancel"})
        assert (out["outcome"], out["code"]) == (409, "crisis-already-resolved")
        unknown = "00000000-0000-0000-0000-000000000001"
        out = await crises.resolve(lead, (unknown, unknown))
        assert (out["outcome"], out["code"]) == (404, "crisis-not-found")


class TestSchedulingDuringACrisis:
    async def test_nothing_is_scheduled_while_a_crisis_holds(self, api, both, flow, newsroom):
        lead = await crisis_lead(api)
        ready = await twins(lambda: approved(flow))
        await api.ok("POST", "/v1/crises", {"scope": {"account_ids": [newsroom.account["id"]]}, "reason": "x"},
                     token=lead.token)
        out = await both.step("schedule", ready, newsroom.publisher, scheduled_at=later(hours=2))
        assert (out["outcome"], out["code"]) == (409, "crisis-active")

    async def test_nor_into_a_blackout_window(self, api, both, flow, newsroom):
        lead = await crisis_lead(api)
        ready = await twins(lambda: approved(flow))
        await api.ok("POST", "/v1/crises", {"scope": {"organization": True}, "reason": "day of mourning",
                                            "starts_at": later(hours=4), "ends_at": later(hours=8)}, token=lead.token)
        out = await both.step("schedule", ready, newsroom.publisher, scheduled_at=later(hours=6))
        assert (out["outcome"], out["code"]) == (409, "blackout-window")
        out = await both.step("schedule", ready, newsroom.publisher, scheduled_at=later(hours=9))
        assert (out["outcome"], out["status"]) == ("ok", "scheduled")


class TestVisibility:
    """A crisis's reason and responders are for those who see something it covers: a crisis over
    nothing you see is not found (404, as anything you cannot see), over REST and GraphQL alike;
    organisation-wide crises are everyone's business."""

    async def test_crises_over_what_you_cannot_see_are_not_found(self, api, gql, newsroom):
        lead = await crisis_lead(api)
        other_brand = await api.brand()
        other_acc = await api.account(other_brand["id"])

        def declare(scope):
            return api.ok("POST", "/v1/crises", {"scope": scope, "reason": f"over {scope}"}, token=lead.token)
        org = await declare({"organization": True})
        ours = await declare({"brand_ids": [newsroom.brand["id"]]})
        theirs = await declare({"account_ids": [other_acc["id"]]})
        sibling = await api.account(other_brand["id"])
        next_door = await declare({"account_ids": [sibling["id"]]})  # not the agency's business
        agency = Person(newsroom.outsider.id, newsroom.outsider.token)
        await api.grant(agency.id, "viewer", account_id=other_acc["id"])
        brand_reader = await api.user()
        await api.grant(brand_reader["id"], "viewer", brand_id=other_brand["id"])
        brand_reader = Person(brand_reader["id"], await api.token_for(brand_reader["id"], scopes=SCOPES))

        svc = await api.ok("POST", "/v1/tokens", {"service_name": "monitoring", "scopes": ["crisis:declare"]})
        monitoring = Person("monitoring", svc["token"])  # an on-call integration sees every crisis
        everything = {org["id"], ours["id"], theirs["id"], next_door["id"]}
        expected = [(newsroom.author, {org["id"], ours["id"]}), (agency, {org["id"], theirs["id"]}),
                    (brand_reader, {org["id"], theirs["id"], next_door["id"]}), (lead, everything),
                    (monitoring, everything)]
        for who, visible in expected:
            listed = {c["id"] for c in (await api.get("/v1/crises", token=who.token, limit=200)).json()["items"]}
            assert everything & listed == visible
            me = (await api.get("/v1/me", token=who.token)).json()
            assert everything & {c["id"] for c in me["active_crises"]} == visible
            data = await gql.data("{ crises(first: 200) { items { id } } }", token=who.token)
            assert everything & {c["id"] for c in data["crises"]["items"]} == visible
            for crisis in (org, ours, theirs, next_door):
                rest = await api.get(f"/v1/crises/{crisis['id']}", token=who.token)
                body = await gql("query($id: UUID!) { crisis(id: $id) { id reason } }", {"id": crisis["id"]},
                                 token=who.token)
                if crisis["id"] in visible:
                    assert rest.status_code == 200 and body["data"]["crisis"]["id"] == crisis["id"]
                else:
                    assert (rest.status_code, rest.json()["code"]) == (404, "crisis-not-found")
                    assert body["errors"][0]["extensions"]["code"] == "crisis-not-found"
