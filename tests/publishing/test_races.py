"""Freeze versus publish, and at-most-once, with real concurrency on a committed database."""
from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from app.publishing import jobs as publishing
from tests.support.posts import SCOPES, Person
from tests.support.publishing import gateway, use_webhook  # noqa: F401 - fixture

pytestmark = pytest.mark.committed


async def _person(api, role, **grant) -> Person:
    u = await api.user()
    await api.grant(u["id"], role, **grant)
    return Person(u["id"], await api.token_for(u["id"], scopes=(*SCOPES, "crisis:declare", "crisis:resolve")))


async def _approved_posts(api, account_id, n: int) -> list[str]:
    """n approved posts on one account, made over the API; scheduling happens in SQL below."""
    author = await _person(api, "contributor", account_id=account_id)
    editor = await _person(api, "approver", account_id=account_id)
    ids = []
    for i in range(n):
        post = (await api.post("/v1/posts", {"account_id": account_id, "body": f"post {i}"}, token=author.token)).json()
        await api.post(f"/v1/posts/{post['id']}/submit", token=author.token)
        r = await api.post(f"/v1/posts/{post['id']}/approve", {"revision": 1}, token=editor.token)
        assert r.json()["status"] == "approved", r.text
        ids.append(post["id"])
    return ids


async def _schedule_stream(maker, ids: list[str], spacing_ms: int) -> None:
    """Schedule them a few ms apart, starting now: a stream of due posts."""
    async with maker() as s:
        await s.execute(text(
            "UPDATE posts p SET status = 'scheduled', scheduled_at = clock_timestamp()"
            " + make_interval(secs => o.n * :gap / 1000.0), version = p.version + 1"
            " FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS o(id, n) WHERE p.id = o.id"),
            {"ids": ids, "gap": spacing_ms})
        await s.commit()


async def _workers(maker, n: int, stop: asyncio.Event) -> list[asyncio.Task]:
    async def loop():
        while not stop.is_set():
            await publishing.run_due(maker, limit=5)
            await asyncio.sleep(random.uniform(0, 0.01))
    return [asyncio.create_task(loop()) for _ in range(n)]


async def test_nothing_in_scope_is_sent_after_declare_returns(committed, gateway):
    api, maker = committed.api, committed.maker
    brand = await api.brand()
    in_scope = await api.account(brand["id"])
    # The in-scope account publishes through a real gateway that takes 10-60 ms per post, so
    # a declaration regularly lands while sends are in flight.
    await use_webhook(api, in_scope["id"], gateway.url)
    gateway.jitter = (0.01, 0.06)
    other = await api.account((await api.brand())["id"])
    lead = await _person(api, "crisis_lead")
    rounds = 8
    ids_in = await _approved_posts(api, in_scope["id"], 12 * rounds)
    ids_out = await _approved_posts(api, other["id"], 3 * rounds)
    seen = Counter()
    for r in range(rounds):
        batch_in = ids_in[r * 12:(r + 1) * 12]
        batch_out = ids_out[r * 3:(r + 1) * 3]
        await _schedule_stream(maker, batch_in + batch_out, spacing_ms=random.choice([5, 10, 20]))
        stop = asyncio.Event()
        tasks = await _workers(maker, 3, stop)
        await asyncio.sleep(random.uniform(0.0, 0.12))  # jitter: declare somewhere inside the stream
        resp = await api.post("/v1/crises", {"scope": {"brand_ids": [brand["id"]]}, "reason": f"round {r}"},
                              token=lead.token)
        assert resp.status_code == 201, resp.text
        async with maker() as s:
            returned_at = (await s.execute(text("SELECT clock_timestamp()"))).scalar()
        crisis = resp.json()
        await asyncio.sleep(0.3)  # the workers keep going after the freeze
        stop.set()
        await asyncio.gather(*tasks)
        # From the connector's own log (the gateway's receive times, same host clock):
        sent = [(m["body"]["data"]["post_id"], m["at"]) for m in gateway.received
                if m["body"]["data"]["post_id"] in set(batch_in)]
        async with maker() as s:
            states = dict((await s.execute(text(
                "SELECT id::text, status FROM posts WHERE id = ANY(CAST(:ids AS uuid[]))"),
                {"ids": batch_in})).all())
            out_states = Counter((await s.execute(text(
                "SELECT status FROM posts WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": batch_out})).scalars())
        # Nothing in scope went out after declare returned ...
        assert all(at < returned_at for _, at in sent), (r, [str(at) for _, at in sent], str(returned_at))
        published = {pid for pid, _ in sent}
        assert len(published) == len(sent)  # ... and nothing twice
        for pid, status in states.items():
            # every post either published before the freeze, or is paused now
            assert (status == "published") == (pid in published) and status in ("published", "paused"), (pid, status)
        assert set(crisis["in_flight_published"]) <= published
        seen["published"] += len(published)
        seen["paused"] += sum(1 for s in states.values() if s == "paused")
        seen["in_flight"] += len(crisis["in_flight_published"])
        # outside the scope the stream went on
        assert out_states == {"published": len(batch_out)}, out_states
        await api.post(f"/v1/crises/{crisis['id']}/resolve", {"resolution": "cancel"}, token=lead.token)
    # The race was real: some posts made it out before a freeze, others were caught by it.
    assert seen["published"] > 0 and seen["paused"] > 0, seen


async def test_four_workers_publish_each_post_at_most_once(committed):
    api, maker = committed.api, committed.maker
    brand = await api.brand()
    acc = await api.account(brand["id"])
    ids = await _approved_posts(api, acc["id"], 40)
    await _schedule_stream(maker, ids, spacing_ms=0)
    stop = asyncio.Event()
    tasks = await _workers(maker, 4, stop)
    for _ in range(200):
        async with maker() as s:
            left = (await s.execute(text("SELECT count(*) FROM posts WHERE id = ANY(CAST(:ids AS uuid[]))"
                                         " AND status <> 'published'"), {"ids": ids})).scalar()
        if not left:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*tasks)
    async with maker() as s:
        per_post = Counter((await s.execute(text(
            "SELECT post_id::text FROM publications WHERE post_id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": ids})).scalars())
        audited = (await s.execute(text(
            "SELECT count(*) FROM audit_records WHERE action = 'post.published'"
            " AND subject_id = ANY(CAST(:ids AS text[]))"), {"ids": ids})).scalar()
    assert set(per_post) == set(ids) and set(per_post.values()) == {1}
    assert audited == len(ids)


async def test_manual_publish_racing_the_scheduler_sends_once(committed):
    api, maker = committed.api, committed.maker
    brand = await api.brand()
    acc = await api.account(brand["id"])
    publisher = await _person(api, "publisher", account_id=acc["id"])
    ids = await _approved_posts(api, acc["id"], 8)
    for pid in ids:
        await _schedule_stream(maker, [pid], spacing_ms=0)
        manual, _ = await asyncio.gather(
            api.post(f"/v1/posts/{pid}/publish", token=publisher.token),
            publishing.run_due(maker))
        # whichever came second found the post no longer its to send
        assert manual.status_code in (200, 409), manual.text
    async with maker() as s:
        per_post = Counter((await s.execute(text(
            "SELECT post_id::text FROM publications WHERE post_id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": ids})).scalars())
    assert set(per_post) == set(ids) and set(per_post.values()) == {1}


async def test_a_post_scheduled_while_a_crisis_is_declared_is_frozen_or_refused(committed):
    """Scheduling racing a declaration: each schedule either lands before the freeze (and is
    paused by it) or after (and is refused, 409 crisis-active); none stays scheduled in scope."""
    api = committed.api
    lead = await _person(api, "crisis_lead")
    for round_ in range(4):
        brand = await api.brand()
        account = await api.account(brand["id"])
        ids = await _approved_posts(api, account["id"], 12)
        publisher = await _person(api, "publisher", account_id=account["id"])
        slot = (datetime.now(UTC) + timedelta(hours=3)).isoformat()

        async def schedule(i: int, post_id: str):
            await asyncio.sleep(i * 0.004 + random.uniform(0, 0.01))
            return await api.post(f"/v1/posts/{post_id}/schedule", {"scheduled_at": slot}, token=publisher.token)

        async def declare():
            await asyncio.sleep(random.uniform(0.01, 0.04))
            return await api.post("/v1/crises", {"scope": {"account_ids": [account["id"]]}, "reason": f"race {round_}"},
                                  token=lead.token)

        *schedules, declared = await asyncio.gather(*(schedule(i, p) for i, p in enumerate(ids)), declare())
        assert declared.status_code == 201, declared.text
        codes = Counter(r.status_code if r.status_code == 200 else r.json()["code"] for r in schedules)
        assert set(codes) <= {200, "crisis-active"}, codes
        statuses = Counter()
        for post_id in ids:
            got = (await api.get(f"/v1/posts/{post_id}")).json()
            statuses[got["status"]] += 1
            if got["status"] == "paused":
                assert got["paused_by_crisis_id"] == declared.json()["id"]
        assert statuses["scheduled"] == 0, statuses
        assert statuses["paused"] == codes[200] == declared.json()["paused_count"]
        assert statuses["approved"] == codes["crisis-active"]


async def test_posts_a_resolve_puts_back_never_slip_past_a_declaration_beside_it(committed):
    """Resolve (resume) racing a declaration over the same account: whichever commits first,
    every post ends up paused by the new crisis, none scheduled under it."""
    api = committed.api
    lead = await _person(api, "crisis_lead")
    for round_ in range(8):
        brand = await api.brand()
        account = await api.account(brand["id"])
        ids = await _approved_posts(api, account["id"], 6)
        publisher = await _person(api, "publisher", account_id=account["id"])
        slot = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
        for post_id in ids:
            r = await api.post(f"/v1/posts/{post_id}/schedule", {"scheduled_at": slot}, token=publisher.token)
            assert r.status_code == 200, r.text
        scope = {"account_ids": [account["id"]]}
        first = await api.post("/v1/crises", {"scope": scope, "reason": f"first {round_}"}, token=lead.token)
        assert first.json()["paused_count"] == len(ids)

        async def resolve():
            await asyncio.sleep(random.uniform(0, 0.02))
            return await api.post(f"/v1/crises/{first.json()['id']}/resolve", {"resolution": "resume"},
                                  token=lead.token)

        async def declare():
            await asyncio.sleep(random.uniform(0, 0.02))
            return await api.post("/v1/crises", {"scope": scope, "reason": f"second {round_}"}, token=lead.token)

        resolved, second = await asyncio.gather(resolve(), declare())
        assert resolved.status_code == 200 and second.status_code == 201, (resolved.text, second.text)
        held = [(await api.get(f"/v1/posts/{p}")).json() for p in ids]
        assert {(p["status"], p["paused_by_crisis_id"]) for p in held} == {("paused", second.json()["id"])}, held
        counts = resolved.json()["counts"]
        assert second.json()["paused_count"] + counts["still_paused"] == len(ids), (counts, second.json())


async def test_a_window_starting_while_someone_resolves_it_never_deadlocks(committed):
    """The worker switching a window on and a person resolving it at the same moment take the
    fence before the crisis row, both of them: one waits for the other, neither deadlocks."""
    from app.crises import service as crises
    from app.security import SYSTEM

    api, maker = committed.api, committed.maker
    lead = await _person(api, "crisis_lead")
    brand = await api.brand()
    account = await api.account(brand["id"])
    for round_ in range(6):
        start = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        window = (await api.post("/v1/crises", {"scope": {"account_ids": [account["id"]]}, "reason": f"w {round_}",
                                                "starts_at": start}, token=lead.token)).json()
        async with maker() as s:
            await s.execute(text("UPDATE crises SET starts_at = now() - interval '1 s' WHERE id = :i"),
                            {"i": window["id"]})
            await s.commit()

        async def worker():
            await asyncio.sleep(random.uniform(0, 0.01))
            async with maker() as s:
                done = await crises.run_windows(s, SYSTEM)
                await s.commit()
                return done

        async def person():
            await asyncio.sleep(random.uniform(0, 0.01))
            return await api.post(f"/v1/crises/{window['id']}/resolve", {"resolution": "cancel"}, token=lead.token)

        started, resolved = await asyncio.gather(worker(), person())
        assert resolved.status_code == 200, resolved.text
        assert started in ((0, 0), (1, 0))  # before the resolve, or it found nothing left to start
        got = (await api.get(f"/v1/crises/{window['id']}", token=lead.token)).json()
        assert got["status"] == "resolved"
