from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditRecordRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: datetime
    actor_kind: str
    actor_id: uuid.UUID | None
    action: str
    subject_type: str
    subject_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
    correlation_id: str | None
    client_ip: str | None
    seq: int | None
    prev_hash: str | None
    hash: str | None

    @classmethod
    def of(cls, rec) -> AuditRecordRead:
        data = {k: getattr(rec, k) for k in cls.model_fields}
        data["client_ip"] = str(rec.client_ip) if rec.client_ip is not None else None
        return cls(**data)


class VerifyRead(BaseModel):
    ok: bool
    sealed: int
    unsealed: int
    head_seq: int | None
    head_hash: str | None
    first_broken: dict[str, Any] | None
