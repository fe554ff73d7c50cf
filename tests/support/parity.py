"""Shared test helpers (moved out of test modules: no test module imports another)."""
from __future__ import annotations

from typing import Any

import pytest

from tests.support.graphql import Gql
from tests.support.posts import Flow, Person

REST_PATH = {"submit": "submit", "approve": "approve", "reject": "reject", "request_changes": "request-changes",
             "schedule": "schedule", "unschedule": "unschedule", "withdraw": "withdraw"}

MUTATION = {"submit": "submitPost", "approve": "approvePost", "reject": "rejectPost",
            "request_changes": "requestPostChanges", "schedule": "schedulePost", "unschedule": "unschedulePost",
            "withdraw": "withdrawPost"}

POST_KEYS = ("status", "revision", "approved_revision", "risk", "review_round", "allowed_transitions", "version")

UNSET: Any = object()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _findings(found) -> list | None:
    return None if not found else [(f["kind"], f["severity"], f["match"], f["span"] and (f["span"]["start"],
                                                                                         f["span"]["end"]))
                                   for f in found]


def from_rest(r) -> dict:
    body = r.json()
    if r.status_code < 400:
        return {"outcome": "ok", **{k: body[k] for k in POST_KEYS}}
    return {"outcome": r.status_code, "code": body["code"], "current_status": body.get("current_status"),
            "allowed_transitions": body.get("allowed_transitions"), "findings": _findings(body.get("findings"))}


def from_graphql(result: dict) -> dict:
    if result["__typename"] == "PostPayload":
        post = result["post"]
        return {"outcome": "ok", **{k: post[camel(k)] for k in POST_KEYS}}
    assert result["__typename"] == "Problem", result
    return {"outcome": result["status"], "code": result["code"], "current_status": result["currentStatus"],
            "allowed_transitions": result["allowedTransitions"], "findings": _findings(result["findings"])}


class Both:
    """Runs one step over REST on the first twin and over GraphQL on the second."""

    def __init__(self, flow: Flow, gql: Gql):
        self.flow = flow
        self.api = flow.api
        self.gql = gql

    async def twins(self, make) -> tuple[dict, dict]:
        return await make(), await make()

    async def step(self, action: str, twins: tuple[dict, dict], by: Person, *, version: Any = "current",
                   revision: Any = UNSET, comment: Any = UNSET, scheduled_at: Any = UNSET) -> dict:
        """``version``: "current" (each twin's own version), an offset like -1, or None (not sent)."""
        args = {k: v for k, v in {"revision": revision, "comment": comment, "scheduled_at": scheduled_at}.items()
                if v is not UNSET}
        rest_post, gql_post = twins

        def version_of(post):
            if version is None:
                return None
            return post["version"] + (0 if version == "current" else version)

        headers = {} if version is None else {"If-Match": f'"{version_of(rest_post)}"'}
        r = await self.api.post(f"/v1/posts/{rest_post['id']}/{REST_PATH[action]}", args or None, token=by.token,
                                **headers)
        rest = from_rest(r)
        payload = {"postId": gql_post["id"], **{camel(k): v for k, v in args.items()}}
        if version is not None:
            payload["expectedVersion"] = version_of(gql_post)
        graphql = from_graphql(await self.gql.mutate(MUTATION[action], payload, token=by.token))
        assert rest == graphql, (action, rest, graphql)
        return rest

    async def create(self, by: Person, **body) -> dict:
        r = await self.api.post("/v1/posts", body, token=by.token)
        rest = {"outcome": "ok", **{k: r.json()[k] for k in POST_KEYS}} if r.status_code < 400 else from_rest(r)
        graphql = from_graphql(await self.gql.mutate("createPost", {camel(k): v for k, v in body.items()},
                                                     token=by.token))
        assert rest == graphql, ("create", rest, graphql)
        return rest


@pytest.fixture
def both(flow, gql) -> Both:
    return Both(flow, gql)


def camelised(value: Any) -> Any:
    if isinstance(value, dict):
        return {camel(k): camelised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camelised(v) for v in value]
    return value
