"""Request and response bodies of the HTTP API that are not spec documents themselves.

Rota problems, solutions, providers and packages travel as the spec's own
documents (`optimiser.domain.documents`); these models wrap them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from optimiser.domain.documents import CqcRating, Package, Problem, Solution

JobStatus = Literal["queued", "running", "done", "failed"]


class FieldProblem(BaseModel):
    """One reason a request was rejected: where (a JSON path, or a CSV row and column) and why."""

    path: str = Field(examples=["visits[3].latest_start"])
    message: str = Field(examples=["window ends before earliest_start"])


class Rejected(BaseModel):
    """A 422 body: every schema and semantic error found, not just the first."""

    detail: list[FieldProblem]


class Message(BaseModel):
    """A 401/403/404/413/501 body."""

    detail: str


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    database: str = Field(description="database dialect, e.g. sqlite or postgresql")
    solver: bool = Field(description="optimiser.solve is installed")
    matcher: bool = Field(description="optimiser.match is installed")


class ProviderSummary(BaseModel):
    """What a provider upload stored (or what GET /v1/providers lists)."""

    id: str
    name: str | None = None
    carers: int
    clients: int
    visits: int
    routes: int
    updated_at: datetime | None = None


class CarersReplaced(BaseModel):
    id: str
    carers: int = Field(description="carers now on record")
    shifts: int
    dropped_routes: int = Field(
        description="rota routes removed because their carer or shift is no longer on record"
    )


class JobAccepted(BaseModel):
    job_id: str


class Job(BaseModel):
    """A solve job. `solution` when done, `error` when failed."""

    job_id: str
    status: JobStatus
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    solution: Solution | None = None
    error: str | None = None


class JobBrief(BaseModel):
    job_id: str
    status: JobStatus
    problem_id: str | None = None
    created_at: datetime
    finished_at: datetime | None = None


class ValidateRequest(BaseModel):
    """A problem and a rota to check against every rule of the spec."""

    problem: Problem
    solution: Solution


class ViolationOut(BaseModel):
    rule: str = Field(description="rule code, e.g. window, travel, skills (see docs/rules.md)")
    message: str
    visit_id: str | None = None
    carer_id: str | None = None


class ValidateResponse(BaseModel):
    valid: bool
    violations: list[ViolationOut]


class MatchRequest(BaseModel):
    """Match a new care package against the stored providers (spec/brokerage.md)."""

    package: Package
    min_cqc_rating: CqcRating | None = Field(
        None, description="consider only providers rated this or better"
    )
    providers: list[str] | None = Field(
        None, description="consider only these provider ids (default: every stored provider)"
    )
    time_limit_seconds: float | None = Field(None, gt=0, description="wall-clock budget")
