"""Where carerota keeps what it derives from maps and geocoders (no heavy imports here:
every `carerota solve` asks for it, most never touch a map)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "CAREROTA_CACHE_DIR"


def cache_dir() -> Path:
    """`$CAREROTA_CACHE_DIR`, else ~/.cache/carerota."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "carerota"
