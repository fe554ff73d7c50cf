from __future__ import annotations

from typing import Any

import pytest

from tests.support.posts import Flow, Newsroom, Person, flow, newsroom, person  # noqa: F401 - fixtures

POST_FIELDS = """
  __typename
  ... on PostPayload { post { id status version revision risk allowedTransitions approvedRevision reviewRound } }
  ... on Error { code message status }
  ... on Problem { pointer currentStatus allowedTransitions currentVersion currentRevision requiredScopes
                   findings { ruleId kind severity match span { start end } } errors { message pointer } }
"""


class Gql:
    """Drives /graphql the way a client would."""

    def __init__(self, client, token: str):
        self.client = client
        self.token = token

    async def raw(self, query: str, variables: dict | None = None, token: str | None = None):
        headers = {"Authorization": f"Bearer {token or self.token}"} if token != "" else {}
        return await self.client.post("/graphql", json={"query": query, "variables": variables or {}},
                                      headers=headers)

    async def __call__(self, query: str, variables: dict | None = None, token: str | None = None) -> dict[str, Any]:
        r = await self.raw(query, variables, token)
        assert r.status_code == 200, r.text
        return r.json()

    async def data(self, query: str, variables: dict | None = None, token: str | None = None) -> dict[str, Any]:
        body = await self(query, variables, token)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def mutate(self, name: str, input: dict, token: str | None = None, fields: str = POST_FIELDS) -> dict:
        """One mutation; answers its result (a Post or a Problem, with __typename)."""
        data = await self.data(f"mutation($input: {_input_type(name)}!) {{ {name}(input: $input) {{ {fields} }} }}",
                               {"input": input}, token)
        return data[name]


def _input_type(name: str) -> str:
    return name[0].upper() + name[1:] + "Input"


@pytest.fixture
def gql(api) -> Gql:
    return Gql(api.client, api.token)
