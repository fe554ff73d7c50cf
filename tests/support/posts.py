from __future__ import annotations

from dataclasses import dataclass

import pytest

SCOPES = ("posts:read", "posts:write")


@dataclass

class Person:
    id: str
    token: str


@dataclass

class Newsroom:
    brand: dict
    account: dict
    policy: dict
    author: Person
    editor: Person
    editor2: Person
    compliance: Person
    publisher: Person
    outsider: Person


async def person(api, role=None, **grant) -> Person:
    user = await api.user()
    if role:
        await api.grant(user["id"], role, **grant)
    return Person(user["id"], await api.token_for(user["id"], scopes=SCOPES))


@pytest.fixture
async def newsroom(api) -> Newsroom:
    brand = await api.brand()
    account = await api.account(brand["id"], platform="weibo")
    policy = await api.ok("POST", "/v1/approval-policies", {"name": f"regulated {account['id']}", "stages": [
        {"name": "editorial", "role": "approver", "min_approvals": 1, "when": "always"},
        {"name": "compliance", "role": "compliance", "min_approvals": 1, "when": "risk>=high"},
    ]})
    await api.ok("PATCH", f"/v1/accounts/{account['id']}", {"approval_policy_id": policy["id"]})
    await api.ok("POST", "/v1/content-rules", {"kind": "sensitive_term", "terms": ["recall", "召回"],
                                               "severity": "high", "account_id": account["id"]})
    await api.ok("POST", "/v1/content-rules", {"kind": "banned_term", "terms": ["guaranteed returns", "稳赚"],
                                               "severity": "block", "account_id": account["id"]})
    acc = {"account_id": account["id"]}
    return Newsroom(
        brand=brand, account=account, policy=policy,
        author=await person(api, "contributor", **acc),
        editor=await person(api, "approver", **acc),
        editor2=await person(api, "approver", **acc),
        compliance=await person(api, "compliance"),
        publisher=await person(api, "publisher", **acc),
        outsider=await person(api),
    )


class Flow:
    """Drives one post through the workflow over REST."""

    def __init__(self, api, room: Newsroom):
        self.api = api
        self.room = room

    async def draft(self, body="Happy Friday from Acme!", by=None, **extra) -> dict:
        by = by or self.room.author
        r = await self.api.post("/v1/posts", {"account_id": self.room.account["id"], "body": body, **extra},
                                token=by.token)
        assert r.status_code == 201, r.text
        return r.json()

    async def act(self, post: dict, action: str, by: Person, json=None, if_match=True, status=200):
        headers = {"If-Match": f'"{post["version"]}"'} if if_match else {}
        r = await self.api.post(f"/v1/posts/{post['id']}/{action}", json, token=by.token, **headers)
        assert r.status_code == status, (action, r.text)
        return r.json()

    async def submitted(self, body="Happy Friday from Acme!") -> dict:
        post = await self.draft(body)
        return await self.act(post, "submit", self.room.author)


@pytest.fixture
def flow(api, newsroom) -> Flow:
    return Flow(api, newsroom)
