"""Shared test helpers (moved out of test modules: no test module imports another)."""
from __future__ import annotations

from app.audit import service as audit_service


def fail_audit(monkeypatch, action: str, error: Exception, *, when=lambda after: True) -> None:
    """Make the audit write of ``action`` fail: it comes after (or, on the hot paths, in the
    same statement as) the use case's own writes."""
    real, real_params = audit_service.record, audit_service.record_params

    async def record(session, principal, act, *args, **kw):
        if act == action and when(kw.get("after") or {}):
            raise error
        return await real(session, principal, act, *args, **kw)

    def record_params(principal, act, *args, **kw):
        if act == action and when(kw.get("after") or {}):
            raise error
        return real_params(principal, act, *args, **kw)

    monkeypatch.setattr(audit_service, "record", record)
    monkeypatch.setattr(audit_service, "record_params", record_params)
