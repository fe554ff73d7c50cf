"""Races on one post, with real concurrent requests on a committed database."""
from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import text

from tests.support.posts import SCOPES, Person

pytestmark = pytest.mark.committed


async def _people(api, n, role, account_id) -> list[Person]:
    out = []
    for _ in range(n):
        u = await api.user()
        await api.grant(u["id"], role, account_id=account_id)
        out.append(Person(u["id"], await api.token_for(u["id"], scopes=SCOPES)))
    return out


async def test_twenty_approvers_of_one_stage_count_exactly(committed):
    api = committed.api
    brand = await api.brand()
    acc = await api.account(brand["id"])
    policy = await api.ok("POST", "/v1/approval-policies", {"name": "three of many", "stages": [
        {"name": "board", "role": "approver", "min_approvals": 3, "when": "always"}]})
    await api.ok("PATCH", f"/v1/accounts/{acc['id']}", {"approval_policy_id": policy["id"]})
    [author] = await _people(api, 1, "contributor", acc["id"])
    approvers = await _people(api, 20, "approver", acc["id"])
    for _round in range(3):
        post = (await api.post("/v1/posts", {"account_id": acc["id"], "body": f"board memo {_round}"},
                               token=author.token)).json()
        post = (await api.post(f"/v1/posts/{post['id']}/submit", token=author.token)).json()
        answers = await asyncio.gather(*(
            api.post(f"/v1/posts/{post['id']}/approve", {"revision": 1}, token=p.token) for p in approvers))
        codes = Counter(r.status_code for r in answers)
        assert codes[200] == 3 and codes[409] == 17, codes
        assert {r.json()["code"] for r in answers if r.status_code == 409} == {"invalid-transition"}
        final = (await api.get(f"/v1/posts/{post['id']}", token=author.token)).json()
        assert final["status"] == "approved" and final["approved_revision"] == 1
        winners = {a.id for a, r in zip(approvers, answers, strict=True) if r.status_code == 200}
        async with committed.maker() as s:
            rows = (await s.execute(text("SELECT decided_by_id::text FROM approvals WHERE post_id = :p"),
                                    {"p": post["id"]})).scalars().all()
            audited = (await s.execute(text("SELECT count(*) FROM audit_records WHERE subject_id = :p"
                                            " AND action = 'post.approve'"), {"p": post["id"]})).scalar()
        assert set(rows) == winners and len(rows) == 3 and audited == 3
        view = (await api.get(f"/v1/posts/{post['id']}/approvals", token=author.token)).json()
        assert view["stages"][0]["approved"] == 3 and view["stages"][0]["complete"] is True


async def test_an_edit_racing_an_approval_never_leaves_an_approval_on_unseen_content(committed):
    api = committed.api
    brand = await api.brand()
    acc = await api.account(brand["id"])
    [author] = await _people(api, 1, "contributor", acc["id"])
    editors = await _people(api, 2, "approver", acc["id"])
    outcomes = Counter()
    for i in range(12):
        post = (await api.post("/v1/posts", {"account_id": acc["id"], "body": f"draft {i}"}, token=author.token)).json()
        post = (await api.post(f"/v1/posts/{post['id']}/submit", token=author.token)).json()
        edit, *approvals = await asyncio.gather(
            api.patch(f"/v1/posts/{post['id']}", {"body": f"draft {i}, edited"}, token=author.token),
            *(api.post(f"/v1/posts/{post['id']}/approve", {"revision": 1}, token=e.token) for e in editors),
        )
        assert edit.status_code == 200, edit.text
        for r in approvals:
            assert r.status_code in (200, 409, 412), r.text
            outcomes[r.status_code] += 1
        final = (await api.get(f"/v1/posts/{post['id']}", token=author.token)).json()
        # The edit always lands last or first; either way the post is a draft of revision 2 now,
        # or (approval first) it was approved and then sent back to draft by the edit.
        assert final["status"] == "draft" and final["revision"] == 2 and final["approved_revision"] is None
    async with committed.maker() as s:
        mismatched = (await s.execute(text(
            "SELECT count(*) FROM approvals a JOIN post_revisions r"
            " ON r.post_id = a.post_id AND r.number = a.revision WHERE r.content_hash <> a.content_hash"))).scalar()
        on_new = (await s.execute(text("SELECT count(*) FROM approvals WHERE revision = 2"))).scalar()
    assert mismatched == 0  # every approval is bound to exactly the content of the revision it names
    assert on_new == 0      # nobody approved content they never saw
    assert sum(outcomes.values()) == 24
