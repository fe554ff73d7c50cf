"""The webhook connector against a real HTTP gateway that verifies Standard Webhooks signatures."""
from __future__ import annotations

from sqlalchemy import text

from app.publishing import jobs as publishing
from tests.support.publishing import approved, gateway, make_due, scheduled, use_webhook  # noqa: F401 - fixtures


async def status(api, flow, post):
    return (await api.get(f"/v1/posts/{post['id']}", token=flow.room.author.token)).json()


async def test_signed_delivery_of_the_exact_approved_content(api, flow, maker, session, gateway):
    await use_webhook(api, flow.room.account["id"], gateway.url)
    post = await scheduled(flow, "新品发布 https://acme.com/launch")
    await make_due(session, post["id"])
    assert await publishing.run_due(maker) == 1
    [msg] = gateway.received
    assert msg["id"] == f"post_{post['id']}_r1" and msg["body"]["type"] == "post.publish"
    assert msg["body"]["data"]["body"] == "新品发布 https://acme.com/launch"
    assert msg["body"]["data"]["content_hash"] == post["content_hash"]
    assert (await status(api, flow, post))["status"] == "published"
    pub = (await api.get(f"/v1/posts/{post['id']}/publication", token=flow.room.author.token)).json()
    assert pub["external_id"] == "platform-1" and pub["response_status"] == 200 and pub["connector"] == "webhook"


async def test_retries_with_backoff_then_publishes_with_the_same_webhook_id(api, flow, maker, session, gateway):
    await use_webhook(api, flow.room.account["id"], gateway.url)
    gateway.fail_next = [503, 502]
    post = await scheduled(flow)
    await make_due(session, post["id"])
    for _ in range(3):
        await publishing.run_due(maker)
        got = await status(api, flow, post)
        if got["status"] == "published":
            break
        assert got["status"] == "publishing"
        # the retry waits its backoff; let time pass
        await session.execute(text("UPDATE posts SET next_attempt_at = now() - interval '1 ms' WHERE id = :i"),
                              {"i": post["id"]})
        await session.commit()
    assert got["status"] == "published"
    assert [m["id"] for m in gateway.received] == [f"post_{post['id']}_r1"] * 3
    retries = (await api.get("/v1/audit", subject_id=post["id"], action="post.publish_retry")).json()["items"]
    assert [r["after"]["retry_in_seconds"] for r in retries] == [1.0, 2.0]


async def test_permanent_refusal_fails_with_the_reason(api, flow, maker, session, gateway):
    await use_webhook(api, flow.room.account["id"], gateway.url)
    gateway.fail_next = [400]
    post = await scheduled(flow)
    await make_due(session, post["id"])
    await publishing.run_due(maker)
    failed = (await api.get("/v1/audit", subject_id=post["id"], action="post.publish_failed")).json()["items"]
    assert (await status(api, flow, post))["status"] == "failed"
    assert failed[0]["after"]["error"] == "gateway answered 400"
    assert (await session.execute(text("SELECT count(*) FROM publications"))).scalar() == 0


async def test_timeouts_exhaust_attempts_then_fail(api, flow, maker, session, gateway):
    await use_webhook(api, flow.room.account["id"], gateway.url, max_attempts=2)
    gateway.delay = 1.5  # longer than the connector's 1 s timeout
    post = await scheduled(flow)
    await make_due(session, post["id"])
    await publishing.run_due(maker)
    assert (await status(api, flow, post))["status"] == "publishing"
    await session.execute(text("UPDATE posts SET next_attempt_at = now() - interval '1 ms' WHERE id = :i"),
                          {"i": post["id"]})
    await session.commit()
    await publishing.run_due(maker)
    failed = await status(api, flow, post)
    assert failed["status"] == "failed"
    # manual publish of a failed post is possible once the cause is fixed
    gateway.delay = 0
    r = await api.post(f"/v1/posts/{post['id']}/publish", token=flow.room.publisher.token)
    assert r.status_code == 200 and r.json()["status"] == "published"


async def test_manual_publish_failure_is_a_502_problem(api, flow, gateway):
    await use_webhook(api, flow.room.account["id"], gateway.url)
    gateway.fail_next = [500]
    post = await approved(flow)
    r = await api.post(f"/v1/posts/{post['id']}/publish", token=flow.room.publisher.token)
    assert r.status_code == 502 and r.json()["code"] == "publish-failed"
    assert r.json()["detail"] == "The webhook connector did not publish: gateway answered 500."
    got = await status(api, flow, post)
    assert got["status"] == "failed" and got["last_error"] == "gateway answered 500"  # not the body ("busy")
