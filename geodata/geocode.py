"""Street addresses to WGS84 through a geopy geocoder, only when a user configures one.

Geocoding sends addresses to a third-party service, so it never happens by
default: `$CAREROTA_GEOCODER` (or the problem's `travel.geocoder`) names a geopy
service (`nominatim`, `opencage`, `googlev3`, ...), looked up with geopy's
`get_geocoder_for_service`. `$CAREROTA_GEOCODER_USER_AGENT` identifies the
deployment (Nominatim's usage policy asks for it) and `$CAREROTA_GEOCODER_API_KEY`
is passed as `api_key` to the `$CAREROTA_GEOCODER` service only (never to another
service a document names); keys never live in documents.

Calls are serialised process-wide and spaced by `$CAREROTA_GEOCODER_MIN_DELAY`
seconds (default 1, Nominatim's limit), because the matcher prepares several
provider problems in threads that share the package client's address. Found
points are cached on disk (`geocode-<sha256>.json` beside the matrices) keyed by
service and address, so a problem geocodes once and then works offline; misses
are not cached, a service may learn the address later.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geopy.exc import GeopyError
from geopy.geocoders import get_geocoder_for_service

log = logging.getLogger(__name__)

GEOCODER_ENV = "CAREROTA_GEOCODER"
USER_AGENT_ENV = "CAREROTA_GEOCODER_USER_AGENT"
API_KEY_ENV = "CAREROTA_GEOCODER_API_KEY"
MIN_DELAY_ENV = "CAREROTA_GEOCODER_MIN_DELAY"
DEFAULT_USER_AGENT = "carerota"
TIMEOUT_S = 10.0
CACHE_VERSION = "1"
UNCONFIGURED = (f"no geocoder configured; set {GEOCODER_ENV} or give lat/lon or a postcode")

_LOCK = threading.Lock()
_LAST_CALL: dict[str, float] = {}
_MEMO: dict[str, tuple[float, float]] = {}


class GeocodeError(ValueError):
    """An address that cannot be geocoded here (no geocoder, not found, service failed)."""


@dataclass(frozen=True)
class GeocoderConfig:
    """Which geopy service to ask and how; built from the environment (+ travel.geocoder)."""

    service: str
    user_agent: str = DEFAULT_USER_AGENT
    api_key: str | None = None
    min_delay_s: float = 1.0

    @classmethod
    def from_env(cls, service: str | None = None,
                 env: Mapping[str, str] | None = None) -> GeocoderConfig | None:
        """The configured geocoder, `service` (travel.geocoder) overriding the environment."""
        env = os.environ if env is None else env
        configured = env.get(GEOCODER_ENV, "").strip().lower()
        name = (service or configured).strip().lower()
        if not name:
            return None
        # The operator's key is for the operator's service, never one a document names.
        key = (env.get(API_KEY_ENV) or None) if name == configured else None
        try:
            delay = float(env.get(MIN_DELAY_ENV, "1"))
        except ValueError:
            delay = math.nan
        if not delay >= 0:
            log.warning("%s must be a number of seconds >= 0; using 1", MIN_DELAY_ENV)
            delay = 1.0
        return cls(service=name, user_agent=env.get(USER_AGENT_ENV) or DEFAULT_USER_AGENT,
                   api_key=key, min_delay_s=delay)


def normalise(address: str) -> str:
    """The cache key form of an address: whitespace collapsed, case folded."""
    return " ".join(address.split()).casefold()


class Geocoder:
    """Resolve addresses with one configured service, through memory and disk caches.

    The geopy geocoder is only built on the first address missing from both caches,
    so a fully cached problem needs neither the network nor a working service.
    """

    def __init__(self, config: GeocoderConfig | None, cache: Path | None) -> None:
        self.config = config
        self.cache = cache
        self._geocoder: Any = None
        self._failure: GeocodeError | None = None  # a failing service is not asked again

    def _key(self, address: str) -> str:
        assert self.config is not None
        text = f"{CACHE_VERSION}|{self.config.service}|{normalise(address)}"
        return hashlib.sha256(text.encode()).hexdigest()

    def _cached(self, key: str) -> tuple[float, float] | None:
        if key in _MEMO:
            return _MEMO[key]
        if self.cache is None:
            return None
        path = self.cache / f"geocode-{key}.json"
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            point = (float(data["lat"]), float(data["lon"]))
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("ignoring unreadable cached geocode %s", path)
            return None
        _MEMO[key] = point
        return point

    def _store(self, key: str, address: str, point: tuple[float, float]) -> None:
        _MEMO[key] = point
        if self.cache is None:
            return
        assert self.config is not None
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
            path = self.cache / f"geocode-{key}.json"
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps({"service": self.config.service, "address": address,
                                       "lat": point[0], "lon": point[1]}), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            log.warning("could not cache a geocode in %s: %s", self.cache, exc)

    def _service(self) -> Any:
        assert self.config is not None
        if self._geocoder is None:
            cfg = self.config
            try:
                cls = get_geocoder_for_service(cfg.service)
            except GeopyError as exc:
                raise GeocodeError(f"unknown geocoder {cfg.service!r} (a geopy service name, "
                                   "e.g. 'nominatim')") from exc
            kwargs: dict[str, Any] = {"user_agent": cfg.user_agent, "timeout": TIMEOUT_S}
            if cfg.api_key:
                kwargs["api_key"] = cfg.api_key
            try:
                self._geocoder = cls(**kwargs)
            except (GeopyError, TypeError) as exc:
                raise GeocodeError(f"geocoder {cfg.service!r} cannot be set up: {exc}") from exc
        return self._geocoder

    def locate(self, address: str) -> tuple[float, float]:
        """(lat, lon) of an address; GeocodeError saying why not."""
        if self.config is None:
            raise GeocodeError(UNCONFIGURED)
        if not address.strip():
            raise GeocodeError("address is empty")
        key = self._key(address)
        with _LOCK:  # one request at a time, process-wide, spaced by min_delay_s
            found = self._cached(key)
            if found is not None:
                return found
            if self._failure is not None:
                raise self._failure
            service = self._service()
            wait = _LAST_CALL.get(self.config.service, -math.inf) + self.config.min_delay_s
            if wait > time.monotonic():
                time.sleep(wait - time.monotonic())
            try:
                log.info("geocoding %r with %s", address, self.config.service)
                result = service.geocode(address.strip(), exactly_one=True)
            except GeopyError as exc:
                self._failure = GeocodeError(f"geocoder {self.config.service!r} failed: "
                                             f"{exc or type(exc).__name__}")
                raise self._failure from exc
            finally:
                _LAST_CALL[self.config.service] = time.monotonic()
            if result is None:
                raise GeocodeError(f"address not found by {self.config.service}: {address!r}")
            point = (float(result.latitude), float(result.longitude))
            self._store(key, address, point)
            return point


def clear_memo() -> None:
    """Forget addresses geocoded in this process (tests; the disk cache stays)."""
    with _LOCK:
        _MEMO.clear()
        _LAST_CALL.clear()
