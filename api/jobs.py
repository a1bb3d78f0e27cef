"""Solve jobs: stored in the database, run outside the request in a thread pool.

Threads rather than processes because CP-SAT releases the GIL while it
searches, so the server keeps answering, and a compiled problem need not be
pickled. Every job row moves queued -> running -> done | failed; a row still
queued or running when the server starts belonged to a process that died, so
`recover` marks it failed with a reason instead of leaving it to hang.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from api.db import JobRecord, utcnow
from api.settings import Settings
from optimiser.domain.compiled import CompiledProblem
from optimiser.domain.documents import Solution

log = logging.getLogger(__name__)
INTERRUPTED = "interrupted by a server restart before it finished; submit the problem again"


def solve_compiled(compiled: CompiledProblem, settings: Settings) -> Solution:
    """Run the optimiser with the problem's own time limit and seed, capped by the settings."""
    from optimiser.solve import SolveOptions, solve

    problem = compiled.problem
    options = SolveOptions(
        time_limit=min(problem.time_limit_seconds, settings.max_solve_seconds),
        workers=settings.solver_threads,
        seed=problem.seed or 0,
    )
    return solve(compiled, options)


def check_solution(compiled: CompiledProblem, solution: Solution) -> str | None:
    """None when the rota keeps every rule, else the broken rules in words."""
    from optimiser.validate import validate

    violations = validate(compiled, solution)
    if not violations:
        return None
    shown = "; ".join(str(v) for v in violations[:5])
    more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
    return f"internal error: the solver's rota breaks {len(violations)} rule(s): {shown}{more}"


class JobRunner:
    """Queues solves on a fixed pool and records each step in the jobs table."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings
        self._pool = ThreadPoolExecutor(settings.solve_workers, thread_name_prefix="carerota-solve")

    def recover(self) -> int:
        """Mark jobs left queued or running by a previous process as failed; return how many."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(JobRecord)
                .where(JobRecord.status.in_(("queued", "running")))
                .values(status="failed", error=INTERRUPTED, finished_at=utcnow())
            )
            count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            log.warning("%d solve job(s) were interrupted by a restart and marked failed", count)
        return count

    def submit(self, compiled: CompiledProblem, problem: dict[str, Any],
               provider_id: str | None) -> str:
        """Store a queued job for an already checked problem and start it when a worker is free."""
        job_id = uuid.uuid4().hex
        with self._sessions.begin() as session:
            session.add(JobRecord(id=job_id, provider_id=provider_id, status="queued",
                                  problem=problem))
        self._pool.submit(self._run, job_id, compiled)
        return job_id

    def _set(self, job_id: str, **values: Any) -> None:
        with self._sessions.begin() as session:
            session.execute(update(JobRecord).where(JobRecord.id == job_id).values(**values))

    def _run(self, job_id: str, compiled: CompiledProblem) -> None:
        self._set(job_id, status="running", started_at=utcnow())
        try:
            solution = solve_compiled(compiled, self._settings)
            error = check_solution(compiled, solution)
        except ImportError as exc:
            log.error("job %s: solver unavailable: %s", job_id, exc)
            error, solution = f"the solver is not available in this installation ({exc})", None
        except Exception as exc:  # a job must end failed with a reason, never stay running
            log.exception("job %s failed", job_id)
            error, solution = f"solver error: {type(exc).__name__}: {exc}", None
        if error is None and solution is not None:
            self._set(job_id, status="done", finished_at=utcnow(),
                      solution=solution.model_dump(mode="json", exclude_none=True))
            log.info("job %s done: %s", job_id, solution.status)
        else:
            log.error("job %s failed: %s", job_id, error)
            self._set(job_id, status="failed", finished_at=utcnow(), error=error)

    def get(self, session: Session, job_id: str) -> JobRecord | None:
        return session.get(JobRecord, job_id)

    def recent(self, session: Session, provider_id: str | None, limit: int = 50) -> list[JobRecord]:
        query = select(JobRecord).order_by(JobRecord.created_at.desc()).limit(limit)
        if provider_id is not None:
            query = query.where(JobRecord.provider_id == provider_id)
        return list(session.scalars(query))

    def shutdown(self) -> None:
        """Stop taking work; queued jobs stay queued in the DB and are failed at next start."""
        self._pool.shutdown(wait=False, cancel_futures=True)
