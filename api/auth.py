"""API keys and roles: a broker reads every provider and matches packages; a provider
reads and writes only itself and runs solves.

Keys are random 256-bit tokens shown once; the database keeps only their SHA-256,
so a leaked database does not leak working keys.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import ApiKey

Role = Literal["broker", "provider"]
ROLES: tuple[str, ...] = ("broker", "provider")
KEY_PREFIX = "crk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the role and, for a provider key, the provider it speaks for."""

    role: Role
    provider_id: str | None = None

    def can_read(self, provider_id: str) -> bool:
        return self.role == "broker" or self.provider_id == provider_id

    def can_write(self, provider_id: str) -> bool:
        return self.role == "provider" and self.provider_id == provider_id


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(session: Session, role: str, provider_id: str | None = None) -> str:
    """Store a new key's hash and return the key itself (the only time it is seen)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if role == "provider" and not provider_id:
        raise ValueError("a provider key needs the provider id it speaks for")
    if role == "broker" and provider_id:
        raise ValueError("a broker key reads every provider: give no provider id")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(key_hash=hash_key(key), role=role, provider_id=provider_id))
    session.commit()
    return key


def lookup_key(session: Session, key: str) -> Principal | None:
    """The principal of a presented key, or None when it is unknown."""
    row = session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).first()
    if row is None:
        return None
    role: Role = "broker" if row.role == "broker" else "provider"
    return Principal(role, row.provider_id)
