"""Run solvers over a suite, one isolated process per solve, and keep every finished row.

Each solve runs in a fresh (spawned) process: a crash, a hang or a memory
blow-up costs that row only, and `ru_maxrss` of the child is the solve's own
peak memory. `results.json` is rewritten after every row, so Ctrl-C (or a
killed run) keeps everything already measured.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import platform
import resource
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.suites import InstanceSpec, build

log = logging.getLogger(__name__)

SOLVERS = ("carerota", "ortools-routing", "pyvrp")
#: Extra seconds a child may take beyond its time limit (build, validate) before it is killed.
GRACE_SECONDS = 120.0


@dataclass(frozen=True)
class RunOptions:
    """Settings of a solve; `run` gives each solve its own `seed` when several seeds run."""

    out: Path
    workers: int = 0
    seed: int = 0


def unavailable(solver: str) -> str | None:
    """Why a solver cannot run here (a missing optional extra), or None."""
    try:
        if solver == "carerota":
            import optimiser.solve  # noqa: F401
        elif solver == "pyvrp":
            import pyvrp  # noqa: F401
        elif solver == "ortools-routing":
            from ortools.constraint_solver import pywrapcp  # noqa: F401
        else:
            return f"unknown solver {solver!r}; use {', '.join(SOLVERS)}"
    except ImportError as exc:
        hint = " (install the 'peers' extra: pip install 'carerota[peers]')" if solver == "pyvrp" else ""
        return f"{solver} is not available: {exc}{hint}"
    return None


def _solve(solver: str, compiled: Any, time_limit: float, options: RunOptions) -> tuple[Any, int, str]:
    if solver == "carerota":
        from optimiser.solve import SolveOptions, solve

        sol = solve(compiled, SolveOptions(time_limit=time_limit, workers=options.workers,
                                           seed=options.seed))
        return sol, 0, ""
    from benchmarks import peers

    run = peers.solve_ortools_routing if solver == "ortools-routing" else peers.solve_pyvrp
    res = run(compiled, time_limit, options.seed)
    return res.solution, res.dropped, res.note


def measure(spec: InstanceSpec, solver: str, time_limit: float, options: RunOptions) -> dict[str, Any]:
    """Build, solve, validate and score one instance with one solver (in this process)."""
    from benchmarks.scoring import score
    from geodata.prepare import prepare
    from optimiser.domain.compiled import compile_problem
    from optimiser.validate import validate

    problem, inst = build(spec, time_limit)
    problem, travel = prepare(problem)
    compiled = compile_problem(problem, travel)
    t0 = time.perf_counter()
    solution, dropped, note = _solve(solver, compiled, time_limit, options)
    wall = time.perf_counter() - t0
    violations = validate(compiled, solution)
    row: dict[str, Any] = {
        "status": solution.status,
        **score(compiled, solution).as_dict(),
        "dropped_unmodellable": dropped,
        "solver_objective": solution.metrics.objective,
        "valid": not violations,
        "violations": len(violations),
        "violation_examples": [str(v) for v in violations[:3]],
        "wall_seconds": round(wall, 3),
        "note": note,
    }
    if inst is not None:
        row.update(_hhcrsp_figures(spec, inst, solution, solver, options.out))
    return row


def _hhcrsp_figures(spec: InstanceSpec, inst: Any, solution: Any, solver: str,
                    out: Path) -> dict[str, Any]:
    """Write the set-format solution and price it in the set's own objective."""
    from benchmarks.hhcrsp import evaluate
    from benchmarks.hhcrsp_convert import to_set_solution

    data = to_set_solution(inst, solution)
    folder = out / "solutions" if solver == "carerota" else out / "solutions" / solver
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{spec.name}.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    ev = evaluate(inst, data)
    cost = round(ev.cost, 4) if ev.feasible else None
    return {
        "code": spec.code,
        "set_cost": cost,
        "set_distance": round(ev.distance, 4),
        "set_tardiness": round(ev.total_tardiness, 4),
        "set_max_tardiness": round(ev.max_tardiness, 4),
        "set_feasible": ev.feasible,
        "set_violation_examples": list(ev.violations[:3]),
        "bks": spec.bks,
        "bks_ratio": _ratio(cost, spec.bks),
        "bks_verified": spec.bks_verified,
        "bks_verified_ratio": _ratio(cost, spec.bks_verified),
    }


def _ratio(cost: float | None, known: float | None) -> float | None:
    """Set cost over a best-known value, to 4 places; None when either is missing."""
    return round(cost / known, 4) if cost is not None and known else None


def _child(conn: Any, spec: InstanceSpec, solver: str, time_limit: float,
           options: RunOptions) -> None:
    """Entry point of the spawned process: send back one row (or the error)."""
    logging.basicConfig(level=logging.WARNING)
    try:
        row = measure(spec, solver, time_limit, options)
    except Exception as exc:  # the row records it; the run goes on
        row = {"error": f"{type(exc).__name__}: {exc}",
               "traceback": traceback.format_exc(limit=4)}
    # The solve's own peak plus its portfolio searches' (forked or spawned processes): an
    # upper bound, as forked pages shared with the parent count twice. The solve does not
    # wait for its members to exit, so reap them first or their peak would not count.
    for member in multiprocessing.active_children():
        member.join(timeout=GRACE_SECONDS)
    peak = sum(resource.getrusage(who).ru_maxrss
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    row["peak_memory_mb"] = round(peak / 1024, 1)
    conn.send(row)
    conn.close()


def run_isolated(spec: InstanceSpec, solver: str, time_limit: float,
                 options: RunOptions) -> dict[str, Any]:
    """One row: the solve in a fresh process, killed if it overruns by GRACE_SECONDS."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    # Not a daemon: the solve starts its own portfolio processes (daemons may not).
    proc = ctx.Process(target=_child, args=(send, spec, solver, time_limit, options))
    base = {"instance": spec.name, "suite": spec.suite, "solver": solver, "time_limit": time_limit,
            "seed": options.seed}
    proc.start()
    send.close()
    try:
        if receive.poll(time_limit * 2 + GRACE_SECONDS):
            row = receive.recv()
        else:
            row = {"error": f"no result within {time_limit * 2 + GRACE_SECONDS:.0f} s (killed)"}
    except EOFError:
        row = {}
    except KeyboardInterrupt:
        proc.kill()  # the unfinished solve is abandoned; finished rows are already saved
        raise
    finally:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if not row:
        row = {"error": f"the solver process died (exit code {proc.exitcode})"}
    return {**base, **row}


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "processor": platform.processor() or None}


def write_results(path: Path, header: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Rewrite results.json atomically (called after every row)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({**header, "rows": rows}, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def run(
    specs: Iterable[InstanceSpec],
    solvers: list[str],
    time_limits: list[float],
    options: RunOptions,
    header: dict[str, Any],
    on_row: Callable[[dict[str, Any]], None] | None = None,
    on_start: Callable[[InstanceSpec, str, float, int], None] | None = None,
    seeds: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Every (instance, time limit, seed, solver) in turn; results.json after each row.

    `seeds` defaults to `options.seed` alone. The solvers run one after the
    other on each seed, so an interrupted run still compares them on the seeds
    it finished. KeyboardInterrupt propagates after the rows so far are written.
    """
    rows: list[dict[str, Any]] = []
    header = {**header, "started": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": machine()}
    path = options.out / "results.json"
    for spec in specs:
        for limit in time_limits:
            for seed in seeds if seeds is not None else [options.seed]:
                for solver in solvers:
                    if on_start:
                        on_start(spec, solver, limit, seed)
                    row = run_isolated(spec, solver, limit, replace(options, seed=seed))
                    rows.append(row)
                    write_results(path, header, rows)
                    if on_row:
                        on_row(row)
    return rows
