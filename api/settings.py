"""The service's settings: one `Settings` object, read from `CAREROTA_*` environment variables.

Command-line options of `carerota serve` override the environment; tests build a
`Settings` directly. Nothing else in `api/` reads the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./carerota.db"


class Settings(BaseSettings):
    """How the HTTP service runs. Every field can be set as `CAREROTA_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="CAREROTA_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL: an SQLite file (default ./carerota.db) or "
        "postgresql+psycopg://user:password@host/db",
    )
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, description="request bodies larger than this get 413"
    )
    solve_workers: int = Field(default=1, ge=1, description="solves run at the same time")
    solver_threads: int = Field(
        default=1, ge=0, description="CP-SAT workers per solve (0 = all cores)"
    )
    max_solve_seconds: float = Field(
        default=300.0, gt=0, description="cap on a problem's time_limit_seconds"
    )
    max_horizon_days: int = Field(
        default=62, gt=0, description="longest horizon (or provider document span) accepted, in days"
    )
    max_match_seconds: float = Field(
        default=120.0, gt=0, description="cap on a match request's time_limit_seconds"
    )
    allow_problem_geocoder: bool = Field(
        default=False,
        description="accept a problem's travel.geocoder (which geopy service the server sends "
        "its addresses to); off: only the operator's CAREROTA_GEOCODER is used",
    )
    networks_dir: Path | None = Field(
        default=None,
        description="the folder of road-network files (.osm, .graphml, .osm.pbf, .npz) a posted "
        "problem's travel.path may name, relative to it; unset: travel.source 'osm' is refused",
    )
