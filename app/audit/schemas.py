from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.pagination import Page


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


class CheckpointRead(BaseModel):
    """The chain's head as the sealer published it. The signature is Ed25519 over the UTF-8 bytes
    ``socialgov audit checkpoint v1\n<seq>\n<hash>\n<created_at as YYYY-MM-DDTHH:MM:SS.ffffffZ>\n``."""

    model_config = ConfigDict(from_attributes=True)

    seq: int = Field(description="Head seq of the chain when the checkpoint was made")
    hash: str = Field(description="Hash of the record at seq")
    created_at: datetime
    signature: str | None = Field(description="base64 Ed25519 signature; null: the sealer had no key (unsigned)")
    key_id: str | None = Field(description="First 16 hex digits of sha256 of the signing public key; null if unsigned")


class CheckpointPage(Page[CheckpointRead]):
    public_key: str | None = Field(
        description="base64 raw Ed25519 public key that verifies this deployment's checkpoints; null: no key set")
    key_id: str | None = Field(description="Its key id, as the checkpoints it signed name it")


class CheckpointCheck(CheckpointRead):
    matches: bool | None = Field(
        description="The chain reaches seq and its record there has this hash; null: the walk broke before seq")
    signature_ok: bool | None = Field(
        description="The signature verifies with the configured key; null: unsigned, no key, or another key")


class VerifyRead(BaseModel):
    ok: bool
    sealed: int
    unsealed: int
    head_seq: int | None
    head_hash: str | None
    first_broken: dict[str, Any] | None
    checkpoints_checked: int = Field(0, description="Stored checkpoints the chain was compared with")
    checkpoint: CheckpointCheck | None = Field(
        None, description="The newest stored checkpoint (highest seq) and how the chain compares with it")
