"""Crises and publishing by hand over GraphQL: queries (timeline, me.activeCrises) and the
mutations (declare, preview, resolve, publish, retract) as unions of a payload and Problem."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from tests.support.graphql import Gql
from tests.support.posts import SCOPES, Person, person
from tests.support.publishing import approved, crisis_lead, later, scheduled

CRISIS = """id severity status reason responders pausedCount resolution resolutionNote version declaredById
            scope { organization brandIds accountIds } startsAt endsAt
            outcome { review resumed unscheduled cancelled stillPaused }
            timeline { kind actorKind actorId detail }"""
PROBLEM = """... on Error { code message status }
             ... on Problem { pointer requiredScopes currentStatus currentVersion errors { message pointer } }"""
DECLARE_FIELDS = f"__typename ... on DeclareCrisisPayload {{ inFlightPublished crisis {{ {CRISIS} }} }} {PROBLEM}"
RESOLVE_FIELDS = f"""__typename ... on ResolveCrisisPayload {{ crisis {{ {CRISIS} }}
                     counts {{ review resumed unscheduled cancelled stillPaused }} }} {PROBLEM}"""
PUBLISH_FIELDS = f"__typename ... on PostPayload {{ post {{ id status version allowedTransitions }} }} {PROBLEM}"
PREVIEW = f"""mutation($input: DeclareCrisisInput!) {{ previewCrisis(input: $input) {{
                __typename
                ... on CrisisPreview {{ wouldPause startsAt endsAt scope {{ organization brandIds accountIds }} }}
                {PROBLEM} }} }}"""
ME = "{ me { activeCrises { id severity reason scopeKind brandIds accountIds declaredAt endsAt } } }"


async def declare(gql: Gql, lead: Person, scope: dict, **kw) -> dict:
    return await gql.mutate("declareCrisis", {"severity": 3, "scope": scope, "reason": "product recall", **kw},
                            token=lead.token, fields=DECLARE_FIELDS)


async def resolve(gql: Gql, lead: Person, crisis_id: str, **kw) -> dict:
    return await gql.mutate("resolveCrisis", {"crisisId": crisis_id, **kw}, token=lead.token, fields=RESOLVE_FIELDS)


async def rest_declare(api, lead: Person, scope: dict, **kw) -> dict:
    r = await api.post("/v1/crises", {"severity": 3, "scope": scope, "reason": "product recall", **kw},
                       token=lead.token)
    assert r.status_code == 201, r.text
    return r.json()


async def status_of(api, token: str, post: dict) -> str:
    return (await api.get(f"/v1/posts/{post['id']}", token=token)).json()["status"]


class TestQueries:
    async def test_crisis_with_its_timeline_reads_what_rest_reads(self, api, gql, flow, newsroom):
        lead = await crisis_lead(api)
        await scheduled(flow, "one")
        await scheduled(flow, "two")
        made = await rest_declare(api, lead, {"brand_ids": [newsroom.brand["id"]]}, responders=[newsroom.publisher.id])
        r = await api.post(f"/v1/crises/{made['id']}/resolve", {"resolution": "resume", "note": "all clear"},
                           token=lead.token)
        assert r.status_code == 200, r.text
        got = (await gql.data(f"query($id: UUID!) {{ crisis(id: $id) {{ {CRISIS} }} }}", {"id": made["id"]},
                              token=newsroom.author.token))["crisis"]
        rest = (await api.get(f"/v1/crises/{made['id']}", token=newsroom.author.token)).json()
        assert (got["status"], got["resolution"], got["resolutionNote"], got["pausedCount"], got["version"]) == (
            rest["status"], rest["resolution"], rest["resolution_note"], rest["paused_count"], rest["version"])
        assert got["scope"] == {"organization": False, "brandIds": [newsroom.brand["id"]], "accountIds": []}
        assert got["responders"] == [newsroom.publisher.id] and got["declaredById"] == lead.id
        assert got["outcome"] == {"review": None, "resumed": 2, "unscheduled": 0, "cancelled": None, "stillPaused": 0}
        assert [(e["kind"], e["actorKind"], e["actorId"], e["detail"]) for e in got["timeline"]] == [
            (e["kind"], e["actor_kind"], e["actor_id"], e["detail"]) for e in rest["timeline"]]
        assert [e["kind"] for e in got["timeline"]] == ["declared", "resolved"]
        assert got["timeline"][0]["detail"]["paused"] == 2
        assert got["timeline"][1]["detail"]["counts"] == {"resumed": 2, "unscheduled": 0, "still_paused": 0}

    async def test_list_filters_pages_and_reads_timelines(self, api, gql, newsroom):
        lead = await crisis_lead(api)
        first = await rest_declare(api, lead, {"organization": True})
        second = await rest_declare(api, lead, {"account_ids": [newsroom.account["id"]]})
        await api.post(f"/v1/crises/{first['id']}/resolve", token=lead.token)
        q = """query($s: [CrisisStatus!], $first: Int, $after: String) {
               crises(status: $s, first: $first, after: $after)
               { items { id status timeline { kind } } nextCursor } }"""
        listed = [c["id"] for c in (await api.get("/v1/crises", token=lead.token)).json()["items"]]
        assert set(listed) == {first["id"], second["id"]}  # one test transaction: equal times, ids break the tie
        page = (await gql.data(q, {"first": 1}, token=lead.token))["crises"]
        assert [c["id"] for c in page["items"]] == listed[:1] and page["nextCursor"]
        rest = (await gql.data(q, {"first": 1, "after": page["nextCursor"]}, token=lead.token))["crises"]
        assert [c["id"] for c in rest["items"]] == listed[1:] and rest["nextCursor"] is None
        timelines = {c["id"]: [e["kind"] for e in c["timeline"]] for c in page["items"] + rest["items"]}
        assert timelines == {first["id"]: ["declared", "resolved"], second["id"]: ["declared"]}
        active = (await gql.data(q, {"s": ["active"]}, token=lead.token))["crises"]["items"]
        assert [(c["id"], c["status"]) for c in active] == [(second["id"], "active")]
        body = await gql(q, {"after": "nope"}, token=lead.token)
        assert body["errors"][0]["extensions"]["code"] == "validation-error"
        body = await gql("{ crises(status: [over]) { items { id } } }", token=lead.token)
        assert body["data"] is None and "CrisisStatus" in body["errors"][0]["message"]

    async def test_not_found_and_scopes_as_rest(self, api, gql, newsroom):
        body = await gql("{ crisis(id: \"00000000-0000-0000-0000-000000000001\") { id } }",
                         token=newsroom.author.token)
        assert body["data"] == {"crisis": None}
        assert body["errors"][0]["extensions"]["code"] == "crisis-not-found"
        svc = await api.ok("POST", "/v1/tokens", {"service_name": "hr", "scopes": ["events:hr"]})
        body = await gql("{ crises { items { id } } }", token=svc["token"])
        assert body["errors"][0]["extensions"]["code"] == "insufficient-scope"
        assert (await api.get("/v1/crises", token=svc["token"])).status_code == 403

    async def test_me_tells_whoever_is_in_scope(self, api, gql, newsroom):
        lead = await crisis_lead(api)
        other = await api.account((await api.brand())["id"])
        outsider = await api.user()
        await api.grant(outsider["id"], "viewer", account_id=other["id"])
        outsider_token = await api.token_for(outsider["id"], scopes=("posts:read",))
        made = await rest_declare(api, lead, {"brand_ids": [newsroom.brand["id"]]})
        await rest_declare(api, lead, {"organization": True}, starts_at=later(hours=4), ends_at=later(hours=8))
        got = (await gql.data(ME, token=newsroom.author.token))["me"]["activeCrises"]
        rest = (await api.get("/v1/me", token=newsroom.author.token)).json()["active_crises"]
        assert [c["id"] for c in got] == [made["id"]]  # the window ahead is not in force yet
        [g], [r] = got, rest
        assert (g["id"], g["severity"], g["reason"], g["scopeKind"], g["brandIds"], g["accountIds"], g["declaredAt"],
                g["endsAt"]) == (
            r["id"], r["severity"], r["reason"], r["scope_kind"], r["brand_ids"], r["account_ids"], r["declared_at"],
            r["ends_at"])
        assert (g["scopeKind"], g["brandIds"]) == ("brands", [newsroom.brand["id"]])
        assert (await gql.data(ME, token=outsider_token))["me"]["activeCrises"] == []
        await api.post(f"/v1/crises/{made['id']}/resolve", token=lead.token)
        assert (await gql.data(ME, token=newsroom.author.token))["me"]["activeCrises"] == []


class TestDeclareAndResolve:
    async def test_preview_declare_resolve(self, api, gql, flow, newsroom, session):
        lead = await crisis_lead(api)
        future, past = await scheduled(flow, "future"), await scheduled(flow, "past")
        scope = {"accountIds": [newsroom.account["id"]]}
        got = (await gql.data(PREVIEW, {"input": {"scope": scope, "reason": "x"}}, token=lead.token))["previewCrisis"]
        assert got == {"__typename": "CrisisPreview", "wouldPause": 2, "startsAt": None, "endsAt": None,
                       "scope": {"organization": False, "brandIds": [], "accountIds": [newsroom.account["id"]]}}
        assert await status_of(api, newsroom.author.token, future) == "scheduled"
        made = await declare(gql, lead, scope)
        crisis = made["crisis"]
        assert (made["__typename"], crisis["status"], crisis["pausedCount"], made["inFlightPublished"]) == (
            "DeclareCrisisPayload", "active", 2, [])
        assert [(e["kind"], e["detail"]["paused"]) for e in crisis["timeline"]] == [("declared", 2)]
        assert await status_of(api, newsroom.author.token, future) == "paused"
        await session.execute(text("UPDATE posts SET scheduled_at = now() - interval '1 hour' WHERE id = :i"),
                              {"i": past["id"]})
        await session.commit()
        done = await resolve(gql, lead, crisis["id"], resolution="resume", note="over")
        assert done["counts"] == {"review": None, "resumed": 1, "unscheduled": 1, "cancelled": None, "stillPaused": 0}
        assert (done["crisis"]["status"], done["crisis"]["resolution"], done["crisis"]["outcome"]) == (
            "resolved", "resume", done["counts"])
        assert [e["kind"] for e in done["crisis"]["timeline"]] == ["declared", "resolved"]
        assert [await status_of(api, newsroom.author.token, p) for p in (future, past)] == ["scheduled", "approved"]
        again = await resolve(gql, lead, crisis["id"])
        assert (again["code"], again["status"]) == ("crisis-already-resolved", 409)

    async def test_review_is_the_default_resolution(self, api, gql, flow, newsroom):
        lead = await crisis_lead(api)
        post = await scheduled(flow)
        made = await declare(gql, lead, {"organization": True})
        done = await resolve(gql, lead, made["crisis"]["id"])
        counts = done["counts"]
        assert (done["crisis"]["resolution"], counts["review"], counts["resumed"]) == ("review", 1, None)
        assert await status_of(api, newsroom.author.token, post) == "in_review"

    async def test_bad_input_points_at_graphql_fields(self, api, gql, newsroom):
        lead = await crisis_lead(api)
        got = await declare(gql, lead, {})
        assert (got["code"], got["status"], got["errors"][0]["pointer"]) == ("validation-error", 422, "#/scope")
        got = await declare(gql, lead, {"organization": True, "brandIds": [newsroom.brand["id"]]})
        assert got["code"] == "validation-error"
        got = await declare(gql, lead, {"brandIds": ["00000000-0000-0000-0000-000000000001"]})
        assert (got["code"], got["status"], got["pointer"]) == ("not-found", 404, "#/scope/brandIds/0")
        got = await declare(gql, lead, {"organization": True}, endsAt="2001-01-01T00:00:00Z")
        assert (got["code"], got["pointer"]) == ("validation-error", "#/endsAt")
        got = await declare(gql, lead, {"organization": True}, severity=9)
        assert (got["code"], got["errors"][0]["pointer"]) == ("validation-error", "#/severity")
        got = await resolve(gql, lead, "00000000-0000-0000-0000-000000000001")
        assert (got["code"], got["status"]) == ("crisis-not-found", 404)
        assert (await api.get("/v1/crises", token=lead.token)).json()["items"] == []

    async def test_who_may_declare_and_resolve(self, api, gql, newsroom):
        lead = await crisis_lead(api)
        no_scope = Person(lead.id, await api.token_for(lead.id, scopes=SCOPES))
        got = await declare(gql, no_scope, {"organization": True})
        assert (got["code"], got["status"], got["requiredScopes"]) == ("insufficient-scope", 403, ["crisis:declare"])
        got = await gql.data(PREVIEW, {"input": {"scope": {"organization": True}, "reason": "x"}},
                             token=no_scope.token)
        assert got["previewCrisis"]["code"] == "insufficient-scope"
        not_a_lead = Person(newsroom.publisher.id, await api.token_for(
            newsroom.publisher.id, scopes=(*SCOPES, "crisis:declare", "crisis:resolve")))
        got = await declare(gql, not_a_lead, {"organization": True})
        assert (got["code"], got["status"]) == ("cannot-declare", 403)
        monitoring = await api.ok("POST", "/v1/tokens", {"service_name": "monitoring", "scopes": ["crisis:declare"]})
        svc = Person("", monitoring["token"])
        made = await declare(gql, svc, {"organization": True}, reason="sentiment collapse")
        assert made["crisis"]["status"] == "active"
        got = await resolve(gql, svc, made["crisis"]["id"])
        assert (got["code"], got["requiredScopes"]) == ("insufficient-scope", ["crisis:resolve"])
        got = await resolve(gql, not_a_lead, made["crisis"]["id"])
        assert got["code"] == "cannot-declare"
        assert (await resolve(gql, lead, made["crisis"]["id"]))["crisis"]["status"] == "resolved"

    async def test_a_window_ahead_and_scheduling_into_it(self, api, gql, flow, newsroom):
        lead = await crisis_lead(api)
        inside = await scheduled(flow, "inside", hours=5)
        made = await declare(gql, lead, {"organization": True}, startsAt=later(hours=4), endsAt=later(hours=8))
        assert (made["crisis"]["status"], made["crisis"]["pausedCount"]) == ("scheduled", 1)
        assert [e["kind"] for e in made["crisis"]["timeline"]] == ["window_declared"]
        assert await status_of(api, newsroom.author.token, inside) == "paused"
        post = await approved(flow, "later")
        got = await gql.mutate("schedulePost", {"postId": post["id"], "scheduledAt": later(hours=6)},
                               token=newsroom.publisher.token, fields=PUBLISH_FIELDS)
        assert (got["code"], got["status"], got["pointer"]) == ("blackout-window", 409, "#/scheduledAt")


class TestPublishAndRetract:
    async def test_publish_then_retract(self, api, gql, flow, newsroom):
        post = await approved(flow)
        got = await gql.mutate("publishPost", {"postId": post["id"]}, token=newsroom.author.token,
                               fields=PUBLISH_FIELDS)
        assert (got["code"], got["status"]) == ("post-action-forbidden", 403)
        got = await gql.mutate("publishPost", {"postId": post["id"], "expectedVersion": post["version"] - 1},
                               token=newsroom.publisher.token, fields=PUBLISH_FIELDS)
        assert (got["code"], got["status"], got["currentVersion"], got["pointer"]) == (
            "precondition-failed", 412, post["version"], "#/expectedVersion")
        got = await gql.mutate("publishPost", {"postId": post["id"], "expectedVersion": post["version"]},
                               token=newsroom.publisher.token, fields=PUBLISH_FIELDS)
        assert (got["__typename"], got["post"]["status"], got["post"]["allowedTransitions"]) == (
            "PostPayload", "published", ["retract"])
        pub = (await api.get(f"/v1/posts/{post['id']}/publication", token=newsroom.author.token)).json()
        assert pub["published_by_id"] == newsroom.publisher.id and pub["retracted_at"] is None
        again = await gql.mutate("publishPost", {"postId": post["id"]}, token=newsroom.publisher.token,
                                 fields=PUBLISH_FIELDS)
        assert (again["code"], again["currentStatus"]) == ("invalid-transition", "published")
        got = await gql.mutate("retractPost", {"postId": post["id"], "expectedVersion": got["post"]["version"]},
                               token=newsroom.publisher.token, fields=PUBLISH_FIELDS)
        assert (got["post"]["status"], got["post"]["allowedTransitions"]) == ("retracted", [])
        assert (await api.get(f"/v1/posts/{post['id']}/publication", token=newsroom.author.token)).json()[
            "retracted_at"]
        got = await gql.mutate("retractPost", {"postId": post["id"]}, token=newsroom.publisher.token,
                               fields=PUBLISH_FIELDS)
        assert got["code"] == "invalid-transition"

    async def test_what_you_cannot_see_is_not_found_and_scopes_as_rest(self, api, gql, flow, newsroom):
        post = await approved(flow)
        got = await gql.mutate("publishPost", {"postId": post["id"]}, token=newsroom.outsider.token,
                               fields=PUBLISH_FIELDS)
        assert (got["code"], got["status"]) == ("post-not-found", 404)
        read_only = await api.token_for(newsroom.publisher.id, scopes=("posts:read",))
        for name in ("publishPost", "retractPost"):
            got = await gql.mutate(name, {"postId": post["id"]}, token=read_only, fields=PUBLISH_FIELDS)
            assert (got["code"], got["requiredScopes"]) == ("insufficient-scope", ["posts:write"])
        body = await gql("mutation($i: PublishPostInput!) { publishPost(input: $i) { __typename } }",
                         {"i": {"postId": post["id"]}}, token="")
        assert body["data"] == {"publishPost": None}
        assert body["errors"][0]["extensions"]["code"] == "unauthenticated"
        assert await status_of(api, newsroom.author.token, post) == "approved"

    async def test_during_a_crisis_only_responders_publish_crisis_responses(self, api, gql, flow, newsroom):
        lead = await crisis_lead(api)
        ready = await approved(flow, "old approved post")
        await declare(gql, lead, {"brandIds": [newsroom.brand["id"]]}, responders=[newsroom.publisher.id])
        got = await gql.mutate("publishPost", {"postId": ready["id"]}, token=newsroom.publisher.token,
                               fields=PUBLISH_FIELDS)
        assert (got["code"], got["status"]) == ("crisis-freeze", 423)  # approved before the crisis
        statement = await approved(flow, "We are aware of the issue and are investigating.")
        other = await person(api, "publisher", account_id=newsroom.account["id"])
        got = await gql.mutate("publishPost", {"postId": statement["id"]}, token=other.token, fields=PUBLISH_FIELDS)
        assert got["code"] == "crisis-freeze"  # a publisher, not a responder
        got = await gql.mutate("publishPost", {"postId": statement["id"]}, token=newsroom.publisher.token,
                               fields=PUBLISH_FIELDS)
        assert got["post"]["status"] == "published"


class TestSeveralMutationsInOneDocument:
    async def test_approve_then_publish(self, gql, flow, newsroom, api):
        post = await flow.submitted()
        editor_and_publisher = await person(api, "approver", account_id=newsroom.account["id"])
        await api.grant(editor_and_publisher.id, "publisher", account_id=newsroom.account["id"])
        data = await gql.data(f"""mutation($a: ApprovePostInput!, $p: PublishPostInput!) {{
            a: approvePost(input: $a) {{ {PUBLISH_FIELDS} }}
            p: publishPost(input: $p) {{ {PUBLISH_FIELDS} }} }}""",
                              {"a": {"postId": post["id"], "revision": 1}, "p": {"postId": post["id"]}},
                              token=editor_and_publisher.token)
        assert (data["a"]["post"]["status"], data["p"]["post"]["status"]) == ("approved", "published")

    async def test_declare_then_publish_is_frozen(self, api, gql, flow, newsroom):
        lead = await crisis_lead(api)
        await api.grant(lead.id, "publisher", account_id=newsroom.account["id"])
        post = await approved(flow)
        data = await gql.data(f"""mutation($d: DeclareCrisisInput!, $p: PublishPostInput!) {{
            d: declareCrisis(input: $d) {{ {DECLARE_FIELDS} }}
            p: publishPost(input: $p) {{ {PUBLISH_FIELDS} }} }}""",
                              {"d": {"scope": {"organization": True}, "reason": "x"}, "p": {"postId": post["id"]}},
                              token=lead.token)
        assert data["d"]["crisis"]["status"] == "active" and data["p"]["code"] == "crisis-freeze"


# --- committed tier: publish_now's own connection against the request's ------------------

async def committed_room(api):
    brand = await api.brand()
    account = await api.account(brand["id"])
    acc = {"account_id": account["id"]}
    return account, await person(api, "contributor", **acc), await person(api, "approver", **acc)


@pytest.mark.committed
async def test_committed_declare_then_publish_in_one_document_does_not_deadlock(committed):
    """Without committing the declaration first, publish_now's shared fence would wait for the
    request's exclusive one, held until the request commits — after publish_now returns."""
    api = committed.api
    account, author, editor = await committed_room(api)
    lead = await crisis_lead(api)
    await api.grant(lead.id, "publisher", account_id=account["id"])
    post = (await api.post("/v1/posts", {"account_id": account["id"], "body": "hello"}, token=author.token)).json()
    await api.ok("POST", f"/v1/posts/{post['id']}/submit", token=author.token, status=200)
    post = await api.ok("POST", f"/v1/posts/{post['id']}/approve", {"revision": 1}, token=editor.token, status=200)
    gql = Gql(committed.client, lead.token)
    document = f"""mutation($d: DeclareCrisisInput!, $a: PublishPostInput!) {{
        d: declareCrisis(input: $d) {{ {DECLARE_FIELDS} }}
        a: publishPost(input: $a) {{ {PUBLISH_FIELDS} }} }}"""
    data = await asyncio.wait_for(gql.data(document, {
        "d": {"scope": {"accountIds": [account["id"]]}, "reason": "x"}, "a": {"postId": post["id"]}}), timeout=20)
    assert data["d"]["crisis"]["status"] == "active"
    assert (data["a"]["code"], data["a"]["status"]) == ("crisis-freeze", 423)
    async with committed.maker() as s:
        row = (await s.execute(text("SELECT status FROM posts WHERE id = :i"), {"i": post["id"]})).scalar_one()
        crises = (await s.execute(text("SELECT count(*) FROM crises WHERE status = 'active'"))).scalar_one()
    assert (row, crises) == ("approved", 1)


@pytest.mark.committed
async def test_committed_approve_then_publish_in_one_document(committed):
    """publish_now reads on its own connection: it sees the approval because it was committed
    first, and does not wait on the row lock the approval took."""
    api = committed.api
    account, author, editor = await committed_room(api)
    await api.grant(editor.id, "publisher", account_id=account["id"])
    post = (await api.post("/v1/posts", {"account_id": account["id"], "body": "hello"}, token=author.token)).json()
    await api.ok("POST", f"/v1/posts/{post['id']}/submit", token=author.token, status=200)
    document = f"""mutation($a: ApprovePostInput!, $p: PublishPostInput!) {{
        a: approvePost(input: $a) {{ {PUBLISH_FIELDS} }}
        p: publishPost(input: $p) {{ {PUBLISH_FIELDS} }} }}"""
    data = await asyncio.wait_for(Gql(committed.client, editor.token).data(document, {
        "a": {"postId": post["id"], "revision": 1}, "p": {"postId": post["id"]}}), timeout=20)
    assert (data["a"]["post"]["status"], data["p"]["post"]["status"]) == ("approved", "published")
    async with committed.maker() as s:
        row = (await s.execute(text("SELECT status FROM posts WHERE id = :i"), {"i": post["id"]})).scalar_one()
    assert row == "published"
