"""Shared test helpers (moved out of test modules: no test module imports another)."""
from __future__ import annotations

import httpx

from app.errors import PROBLEM_BASE, PROBLEM_JSON


def problem(r: httpx.Response, status: int, code: str | None = None) -> dict:
    """Assert ``r`` is a well-formed problem document with ``status``; return its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM_JSON, r.headers
    body = r.json()
    assert body["status"] == status
    assert body["type"].startswith(PROBLEM_BASE) and body["type"] == PROBLEM_BASE + body["code"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["code"] == code, body
    return body
