"""FastAPI dependencies: the database session, the caller's key, and role guards."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Principal, lookup_key
from api.jobs import JobRunner
from api.settings import Settings

bearer = HTTPBearer(
    auto_error=False,
    description="An API key from `carerota apikey create`, sent as `Authorization: Bearer <key>`.",
)


@dataclass
class AppState:
    """What the routes share: settings, the session factory and the solve pool."""

    settings: Settings
    sessions: sessionmaker[Session]
    jobs: JobRunner


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.carerota
    return state


StateDep = Annotated[AppState, Depends(app_state)]


def session(state: StateDep) -> Iterator[Session]:
    with state.sessions() as s:
        yield s


SessionDep = Annotated[Session, Depends(session)]


def principal(
    db: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller behind the bearer key; 401 when there is none or it is unknown."""
    if credentials is None:
        raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>'",
                            headers={"WWW-Authenticate": "Bearer"})
    found = lookup_key(db, credentials.credentials)
    if found is None:
        raise HTTPException(401, "unknown API key", headers={"WWW-Authenticate": "Bearer"})
    return found


PrincipalDep = Annotated[Principal, Depends(principal)]


def broker(who: PrincipalDep) -> Principal:
    if who.role != "broker":
        raise HTTPException(403, "this needs a broker key")
    return who


def provider(who: PrincipalDep) -> Principal:
    if who.role != "provider":
        raise HTTPException(403, "this needs a provider key")
    return who


BrokerDep = Annotated[Principal, Depends(broker)]
ProviderDep = Annotated[Principal, Depends(provider)]
