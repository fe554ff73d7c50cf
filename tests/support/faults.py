"""Shared test helpers (moved out of test modules: no test module imports another)."""
from __future__ import annotations

from app.audit import service as audit_service


def fail_audit(monkeypatch, action: str, error: Exception, *, when=lambda after: True) -> None:
    """Make the audit write of ``action`` fail: it comes after the use case's own writes."""
    real = audit_service.record

    async def record(session, principal, act, *args, **kw):
        if act == action and when(kw.get("after") or {}):
            raise error
        return await real(session, principal, act, *args, **kw)

    monkeypatch.setattr(audit_service, "record", record)
