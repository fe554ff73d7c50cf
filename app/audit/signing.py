"""Checkpoint signatures: Ed25519 over a canonical byte string of (seq, hash, time).

No I/O and no database: the sealer signs with the private key, the API and the CLI verify
with the public key, and an auditor can do the same with any Ed25519 tool.

Formats (README "Audit"):
- private key (``SOCIALGOV_AUDIT_CHECKPOINT_KEY``): base64 of the 32-byte Ed25519 seed;
- public key: base64 of the 32-byte raw Ed25519 public key;
- key id: the first 16 hex digits of sha256(raw public key);
- signature: base64 of the 64-byte Ed25519 signature of ``message(seq, hash, created_at)``.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

DOMAIN = b"socialgov audit checkpoint v1"


def _b64_32(value: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(value.strip().replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not base64") from None
    if len(raw) != 32:
        raise ValueError(f"{what} must be base64 of 32 bytes, got {len(raw)}")
    return raw


def timestamp(moment: datetime) -> str:
    """The time as signed: UTC, microseconds, ``Z`` (PostgreSQL keeps microseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def message(seq: int, head_hash: str, created_at: datetime) -> bytes:
    """What is signed: ``socialgov audit checkpoint v1\\n<seq>\\n<hash>\\n<time>\\n`` (UTF-8)."""
    return b"\n".join([DOMAIN, str(int(seq)).encode(), head_hash.encode(), timestamp(created_at).encode(), b""])


@lru_cache(maxsize=8)
def private_key(value: str | None) -> Ed25519PrivateKey | None:
    """The signing key from ``SOCIALGOV_AUDIT_CHECKPOINT_KEY``; None when unset or blank.
    A malformed key raises ValueError (never echoing it)."""
    if value is None or not value.strip():
        return None
    return Ed25519PrivateKey.from_private_bytes(_b64_32(value, "SOCIALGOV_AUDIT_CHECKPOINT_KEY"))


def public_key(value: str) -> Ed25519PublicKey:
    """A public key as ``public_b64`` writes it; ValueError if malformed."""
    return Ed25519PublicKey.from_public_bytes(_b64_32(value, "the public key"))


def public_b64(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


def sign(key: Ed25519PrivateKey, seq: int, head_hash: str, created_at: datetime) -> str:
    return base64.b64encode(key.sign(message(seq, head_hash, created_at))).decode()


def valid(key: Ed25519PublicKey, signature: str | None, seq: int, head_hash: str, created_at: datetime) -> bool:
    if not signature:
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, message(seq, head_hash, created_at))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def generate() -> tuple[str, str, str]:
    """A new key: (private seed base64, public key base64, key id)."""
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(seed).decode(), public_b64(key.public_key()), key_id(key.public_key())
