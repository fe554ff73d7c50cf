from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class ConnectorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["log", "webhook"] = "log"
    url: AnyHttpUrl | None = Field(default=None, validate_default=True,
                                   description="The gateway (webhook): http(s), no user info, a public address "
                                               "unless the operator allows private ones")
    secret: str | None = Field(default=None, min_length=10, max_length=200,
                               description="whsec_… signing secret; omitted for a webhook = keep or generate one")
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    max_attempts: int = Field(default=5, ge=1, le=20)

    @field_validator("secret")
    @classmethod
    def _whsec(cls, v: str | None) -> str | None:
        if v is not None:
            import base64

            try:
                base64.b64decode(v.removeprefix("whsec_"), validate=True)
            except ValueError:
                raise ValueError("must be whsec_ followed by base64") from None
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, url, info: ValidationInfo):
        # A field validator (not a model one), so the error points at #/url.
        if info.data.get("kind") == "webhook" and url is None:
            raise ValueError("a webhook connector needs a url")
        return url


class ConnectorRead(BaseModel):
    account_id: uuid.UUID
    kind: str
    url: str | None = Field(description="The gateway (webhook); only for account admins and admins, null for "
                                        "publishers")
    url_host: str | None = Field(None, description="The gateway's host (webhook), for everyone who may read this")
    timeout_seconds: float
    max_attempts: int
    has_secret: bool
    secret: str | None = Field(description="Only when a secret was just generated: shown once")
    version: int


class PublicationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    post_id: uuid.UUID
    account_id: uuid.UUID
    revision: int
    content_hash: str
    connector: str
    body: str
    link: str | None
    media: list[str]
    labels: list[str]
    attempt: int
    response_status: int | None
    external_id: str | None
    published_by_kind: str
    published_by_id: uuid.UUID | None
    sent_at: datetime
    retracted_at: datetime | None
