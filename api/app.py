"""The carerota HTTP service: `create_app(settings)` builds the FastAPI application.

Thin routers in `api/routes/`; persistence in `api/db.py`; solves in
`api/jobs.py`. The database is migrated when the app starts, and solve jobs a
previous process left unfinished are marked failed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session, sessionmaker

from api import errors
from api.db import open_database
from api.deps import AppState, StateDep
from api.jobs import JobRunner
from api.matching import matcher_installed
from api.routes import brokerage, providers, rota
from api.schemas import Health
from api.settings import Settings

log = logging.getLogger(__name__)

DESCRIPTION = """\
Rota optimisation and package matching for UK home care.

Bodies are the carerota/1 documents of the spec: datetimes are ISO 8601, durations and
travel whole minutes, distances kilometres, coordinates WGS84. Send an API key as
`Authorization: Bearer <key>` (`carerota apikey create`). A rejected request answers
422 with every field at fault: `{"detail": [{"path": "visits[3].latest_start",
"message": "window ends before earliest_start"}]}`; a body over the server's size
limit answers 413. See docs/api.md.
"""


def _version() -> str:
    try:
        return version("carerota")
    except PackageNotFoundError:
        return "0.1.0+source"


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def _solver_installed() -> bool:
    try:
        from optimiser.solve import solve  # noqa: F401
    except ImportError:
        return False
    return True


system = APIRouter(prefix="/v1", tags=["system"])


@system.get("/health", response_model=Health, summary="Is the service up (no key needed)")
def health(state: StateDep) -> Health:
    engine = state.sessions.kw["bind"]
    return Health(version=_version(), database=engine.dialect.name,
                  solver=_solver_installed(), matcher=matcher_installed())


def create_app(settings: Settings | None = None,
               sessions: sessionmaker[Session] | None = None) -> FastAPI:
    """The application; `sessions` lets a caller that already migrated reuse its engine."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        factory = sessions or open_database(settings.database_url)
        jobs = JobRunner(factory, settings)
        jobs.recover()
        app.state.carerota = AppState(settings=settings, sessions=factory, jobs=jobs)
        try:
            yield
        finally:
            jobs.shutdown()

    app = FastAPI(
        title="carerota", version=_version(), description=DESCRIPTION, lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    errors.install(app)
    app.add_middleware(errors.BodyLimit, limit=settings.max_body_bytes)
    for router in (system, providers.router, rota.router, brokerage.router):
        app.include_router(router)
    return app
