"""DataLoaders: statements per query bounded by nesting depth, not by the number of posts;
one request session shared safely by concurrently resolving fields."""
from __future__ import annotations

import asyncio

import contextlib

from sqlalchemy import event

from app.graphql.context import Context

FLAT = "{ posts(first: 20) { items {" \
       " id status version allowedTransitions currentRevision { risk findings { kind } } } } }"
NESTED = """{ posts(first: 20) { items {
  id status version
  currentRevision { risk findings { kind severity } }
  revisions { number body }
  approvals { stages { name required approved complete open approvedBy { decidedById decidedAt } pendingOn }
              decisions { decidedById decision } }
} } }"""


@contextlib.contextmanager
def statements(engine):
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def some_posts(flow, newsroom, n: int) -> None:
    """Drafts, posts in review and approved ones: every nested list has something in it."""
    for i in range(n):
        if i % 3 == 0:
            await flow.draft(f"draft {i}")
        elif i % 3 == 1:
            await flow.submitted(f"in review {i}")
        else:
            await flow.act(await flow.submitted(f"approved {i}"), "approve", newsroom.editor)


async def statements_for(gql, engine, query: str, token: str, expected_items: int) -> int:
    with statements(engine) as seen:
        data = await gql.data(query, token=token)
    assert len(data["posts"]["items"]) == expected_items
    return len(seen)


async def test_a_flat_page_is_a_fixed_number_of_statements(gql, flow, newsroom, engine):
    await some_posts(flow, newsroom, 2)
    few = await statements_for(gql, engine, FLAT, newsroom.author.token, 2)
    await some_posts(flow, newsroom, 10)
    many = await statements_for(gql, engine, FLAT, newsroom.author.token, 12)
    assert few == many


async def test_nested_lists_do_not_grow_with_the_number_of_posts(gql, flow, newsroom, engine):
    await some_posts(flow, newsroom, 2)
    few = await statements_for(gql, engine, NESTED, newsroom.author.token, 2)
    await some_posts(flow, newsroom, 10)
    many = await statements_for(gql, engine, NESTED, newsroom.author.token, 12)
    assert few == many


async def test_concurrent_fields_use_the_request_session_only_under_its_lock(gql, flow, newsroom, monkeypatch):
    # Siblings resolve concurrently, and one AsyncSession must never serve two coroutines at
    # once: every use of the context's session happens while holding the request's lock.
    await some_posts(flow, newsroom, 6)
    uses = []
    real_session, real_init = Context.session, Context.__init__

    class OwnedLock(asyncio.Lock):
        """Knows which task holds it: "locked" alone is true while a sibling holds it too."""
        owner = None

        async def acquire(self):
            await super().acquire()
            self.owner = asyncio.current_task()
            return True

        def release(self):
            self.owner = None
            super().release()

    def init(ctx, *args, **kw):
        real_init(ctx, *args, **kw)
        ctx.lock = OwnedLock()

    def guarded(ctx):
        uses.append(ctx.lock.owner is asyncio.current_task())
        return real_session.fget(ctx)

    monkeypatch.setattr(Context, "__init__", init)
    monkeypatch.setattr(Context, "session", property(guarded))
    data = await gql.data("""{
      me { name }
      a: posts(first: 20) { items { id revisions { number } approvals { decisions { decision } } } }
      b: posts(filter: {status: [in_review]}) { items { id revisions { number } approvals { stages { name } } } }
      approvalPolicies { items { id isDefault stages { name } } }
      defaultApprovalPolicy { policyId builtinStages { name } }
      contentRules(filter: {accountId: "%s"}) { items { kind } }
    }""" % newsroom.account["id"], token=newsroom.author.token)
    assert len(data["a"]["items"]) == 6 and len(data["b"]["items"]) == 2
    assert sorted(r["kind"] for r in data["contentRules"]["items"]) == ["banned_term", "sensitive_term"]
    assert len(uses) > 6 and all(uses)


async def test_results_of_later_mutations_are_not_served_from_earlier_caches(gql, flow, newsroom):
    post = await flow.draft("a recall")
    fields = ("... on PostPayload { post { status approvals { submitted stages { name approved } } "
              "revisions { number } } }")
    data = await gql.data(f"""mutation($e: EditPostInput!, $s: SubmitPostInput!) {{
        e: editPost(input: $e) {{ {fields} }}
        s: submitPost(input: $s) {{ {fields} }} }}""",
                          {"e": {"postId": post["id"], "body": "a recall, reworded"}, "s": {"postId": post["id"]}},
                          token=newsroom.author.token)
    edited, submitted = data["e"]["post"], data["s"]["post"]
    assert (edited["status"], edited["approvals"]["submitted"], edited["revisions"]) == (
        "draft", False, [{"number": 1}, {"number": 2}])
    assert submitted["status"] == "in_review" and submitted["approvals"]["submitted"] is True
    assert [s["name"] for s in submitted["approvals"]["stages"]] == ["editorial", "compliance"]
    data = await gql.data("""mutation($a: ApprovePostInput!) { approvePost(input: $a) {
        ... on PostPayload { post { status approvals { stages { name approved } } } } } }""",
                          {"a": {"postId": post["id"], "revision": 2}}, token=newsroom.editor.token)
    assert data["approvePost"]["post"]["approvals"]["stages"][0] == {"name": "editorial", "approved": 1}
