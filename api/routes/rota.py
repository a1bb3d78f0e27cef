"""Rota work: solve jobs (202 + poll) and checking a given rota against the rules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Response

from api import examples
from api.db import JobRecord, aware
from api.deps import PrincipalDep, ProviderDep, SessionDep, StateDep
from api.limits import problem_limits
from api.networks import NetworkPath
from api.routes.providers import ERRORS
from api.schemas import Job, JobAccepted, JobBrief, Message, ValidateRequest, ValidateResponse
from geodata.prepare import prepare
from optimiser.domain.compiled import CompiledProblem, compile_problem
from optimiser.domain.documents import Problem, Solution
from optimiser.domain.errors import DocumentError, FieldError
from optimiser.domain.loading import check_mixed_datetimes, problem_errors

router = APIRouter(prefix="/v1", tags=["rota"])


GEOCODER_REFUSED = ("not allowed through the API; the operator configures CAREROTA_GEOCODER")


def geocoder_errors(problem: Problem, allowed: bool) -> list[FieldError]:
    """A caller may not choose where the server sends addresses, unless the operator allows it."""
    if allowed or (problem.travel.model_extra or {}).get("geocoder") is None:
        return []
    return [FieldError("travel.geocoder", GEOCODER_REFUSED)]


def ready(problem: Problem, max_days: int, prefix: str = "",
          allow_geocoder: bool = False, networks_dir: Path | None = None) -> CompiledProblem:
    """Check a problem's meaning and size, resolve its places and compile it: 422 on any error.

    `allow_geocoder`: accept the problem's `travel.geocoder` (the setting
    `allow_problem_geocoder`); otherwise it is refused before anything is geocoded.
    `networks_dir`: the only folder an OSM `travel.path` may point into (the setting
    `networks_dir`); None refuses OSM travel before any file is opened.
    """
    network = NetworkPath(problem, networks_dir)
    errors = (problem_errors(problem) or problem_limits(problem, max_days)) + geocoder_errors(
        problem, allow_geocoder) + network.errors
    if not errors:
        try:
            return compile_problem(*prepare(network.problem))
        except DocumentError as exc:
            errors = network.public(exc.errors)
    if prefix:
        errors = [FieldError(f"{prefix}.{e.path}" if e.path else prefix, e.message) for e in errors]
    raise DocumentError(errors, "problem")


@router.post(
    "/solve", status_code=202, response_model=JobAccepted,
    responses={**ERRORS, 413: {"model": Message}}, summary="Start solving a rota problem",
)
def start_solve(
    problem: Annotated[Problem, Body(openapi_examples={
        "ilkley-monday": {"summary": "spec/example-problem.json", "value": examples.problem()}})],
    who: ProviderDep,
    state: StateDep,
    response: Response,
) -> JobAccepted:
    """Answers at once with a job id; poll `GET /v1/jobs/{job_id}`. The solve keeps the
    problem's `time_limit_seconds` (capped by the server) and `seed`; its rota is checked
    against every rule before it is stored.
    """
    compiled = ready(problem, state.settings.max_horizon_days,
                     allow_geocoder=state.settings.allow_problem_geocoder,
                     networks_dir=state.settings.networks_dir)
    document = problem.model_dump(mode="json", exclude_unset=True)
    job_id = state.jobs.submit(compiled, document, who.provider_id)
    response.headers["Location"] = f"/v1/jobs/{job_id}"
    return JobAccepted(job_id=job_id)


def _visible(record: JobRecord | None, who: PrincipalDep, job_id: str) -> JobRecord:
    if record is None or not (who.role == "broker" or record.provider_id == who.provider_id):
        raise HTTPException(404, f"no job {job_id!r} for this key")
    return record


@router.get("/jobs/{job_id}", response_model=Job, response_model_exclude_none=True,
            responses={**ERRORS, 404: {"model": Message}}, summary="A solve job's status")
def get_job(job_id: str, who: PrincipalDep, db: SessionDep) -> Job:
    record = _visible(db.get(JobRecord, job_id), who, job_id)
    solution = Solution.model_validate(record.solution) if record.solution else None
    return Job(job_id=record.id, status=record.status,
               created_at=aware(record.created_at), started_at=aware(record.started_at),
               finished_at=aware(record.finished_at), solution=solution, error=record.error)


@router.get("/jobs", response_model=list[JobBrief], responses=ERRORS,
            summary="The newest 50 jobs of this key's provider (a broker sees all)")
def list_jobs(who: PrincipalDep, state: StateDep, db: SessionDep) -> list[JobBrief]:
    owner = None if who.role == "broker" else who.provider_id
    return [
        JobBrief(job_id=r.id, status=r.status,
                 problem_id=(r.problem or {}).get("id"), created_at=aware(r.created_at),
                 finished_at=aware(r.finished_at))
        for r in state.jobs.recent(db, owner)
    ]


@router.post("/validate", response_model=ValidateResponse,
             responses={**ERRORS, 413: {"model": Message}},
             summary="Check a rota against every rule of the spec")
def validate_rota(
    body: Annotated[ValidateRequest, Body(openapi_examples={
        "ilkley-monday": {"summary": "the spec's example problem and solution",
                          "value": {"problem": examples.problem(),
                                    "solution": examples.solution()}}})],
    who: PrincipalDep,
    state: StateDep,
) -> ValidateResponse:
    """Violations in plain words (rule, visit, carer); `valid` when there are none."""
    from optimiser.validate import validate

    del who  # any valid key may check a rota
    compiled = ready(body.problem, state.settings.max_horizon_days, prefix="problem",
                     allow_geocoder=state.settings.allow_problem_geocoder,
                     networks_dir=state.settings.networks_dir)
    errors: list[FieldError] = []
    check_mixed_datetimes(body.solution, errors, "solution")
    if errors:
        raise DocumentError(errors, "solution")
    violations: list[dict[str, Any]] = [v.as_dict() for v in validate(compiled, body.solution)]
    return ValidateResponse(valid=not violations, violations=violations)
