"""`carerota bench`: carerota beside its peers on generated and published instances."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from api.cli import UserError, err, friendly, out

N = TypeVar("N", int, float)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the `carerota` app."""
    app.command()(bench)


def _list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _numbers(text: str, option: str, parse: Callable[[str], N], what: str,
             allowed: Callable[[N], bool], rule: str) -> list[N]:
    """A comma list of numbers, each parsed and checked; a bad one is a UserError naming `option`."""
    values = []
    for part in _list(text):
        try:
            value = parse(part)
        except ValueError:
            raise UserError(f"{option}: {part!r} is not {what}") from None
        if not allowed(value):
            raise UserError(f"{option}: {part!r} must be {rule}")
        values.append(value)
    return values


def _time_limits(text: str | None, suite: str) -> list[float]:
    from benchmarks.suites import DEFAULT_TIME_LIMIT

    if not text:
        return [DEFAULT_TIME_LIMIT.get(suite, 30.0)]
    return _numbers(text, "--time-limit", float, "a number of seconds", lambda v: v > 0, "positive")


def _seeds(text: str) -> list[int]:
    """The seeds to run every solve with: `0`, or a comma list such as `0,2,4`."""
    seeds = _numbers(text, "--seed", int, "a whole number", lambda v: v >= 0, "0 or more")
    if not seeds:
        raise UserError("--seed: give one seed or a comma list of seeds (0,2,4)")
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise UserError(f"--seed: {', '.join(map(str, twice))} given more than once")
    return seeds


@friendly
def bench(
    suite: Annotated[str, typer.Option(help="smoke | standard | scale | hhcrsp | planted")] = "smoke",
    time_limit: Annotated[str | None, typer.Option(
        help="seconds per solve; a comma list (5,30,120) traces quality against time "
             "[default: smoke 5, standard 30, scale 120, hhcrsp 30, planted 30]")] = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="output folder [default: bench-results/<suite>]")] = None,
    solvers: Annotated[str, typer.Option(
        help="comma list of carerota, ortools-routing, pyvrp")] = "carerota,ortools-routing,pyvrp",
    instances: Annotated[str | None, typer.Option(
        help="comma list of instance names, or of codes from bks.csv for hhcrsp (A1,B1,...)")] = None,
    data: Annotated[Path | None, typer.Option(
        help="folder of a published set [default: ../shared/benchmarks/<set>]")] = None,
    workers: Annotated[int, typer.Option(min=0, help="carerota CP-SAT workers; 0 = all cores")] = 0,
    seed: Annotated[str, typer.Option(
        help="random seed for every solver; a comma list (0,2,4) runs every solve once per seed "
             "and summarises each over the seeds")] = "0",
) -> None:
    """Benchmark solvers on a suite: results.json, report.md and a quality-against-time plot."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from benchmarks.planted import add_hidden, finish_run
    from benchmarks.report import write_report
    from benchmarks.runner import SOLVERS, RunOptions, machine, run, unavailable
    from benchmarks.suites import SuiteError
    from benchmarks.suites import instances as suite_instances

    limits = _time_limits(time_limit, suite)
    seeds = _seeds(seed)
    wanted = _list(solvers)
    unknown = [s for s in wanted if s not in SOLVERS]
    if not wanted or unknown:
        raise UserError(f"--solvers: unknown solver(s) {', '.join(unknown) or '(none given)'}; "
                        f"use a comma list of {', '.join(SOLVERS)}")
    try:
        specs = suite_instances(suite, data, _list(instances) or None)
    except SuiteError as exc:
        raise UserError(str(exc)) from None
    skipped = []
    for solver in list(wanted):
        why = unavailable(solver)
        if why:
            err.print(f"[yellow]skipping[/yellow] {why}", highlight=False)
            skipped.append(why)
            wanted.remove(solver)
    if not wanted:
        raise UserError("no solver can run here: " + "; ".join(skipped))
    target = out_dir or Path("bench-results") / suite
    m = machine()
    header = {
        "suite": suite, "solvers": wanted, "time_limits": limits, "workers": workers,
        "seed": seeds[0], "seeds": seeds,
        "command": "carerota " + shlex.join(sys.argv[1:]),
        "machine_text": f"{m['cpus']} CPU(s), Python {m['python']}, {m['platform']}",
        "skipped": skipped,
    }
    total = len(specs) * len(limits) * len(seeds) * len(wanted)
    rows: list[dict] = []
    interrupted = False
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=False) as bar:
        task = bar.add_task("starting", total=total)

        def started(spec, solver: str, limit: float, seed: int) -> None:
            of_seed = f" · seed {seed}" if len(seeds) > 1 else ""
            bar.update(task, description=f"{spec.name} · {solver} · {limit:g} s{of_seed}")

        planted = {s.name: s.planted for s in specs}

        def finished(row: dict) -> None:
            add_hidden(row, planted.get(row["instance"]))  # planted suite: vs the hidden rota
            rows.append(row)
            bar.advance(task)

        try:
            run(specs, wanted, limits, RunOptions(out=target, workers=workers), header,
                on_row=finished, on_start=started, seeds=seeds)
        except KeyboardInterrupt:
            interrupted = True
    report = write_report(rows, target, header, skipped, interrupted)
    finish_run(target, rows)
    invalid = sum(1 for r in rows if not r.get("valid"))
    out.print(f"{len(rows)} row(s) in {target / 'results.json'}; report {report}"
              + (f"; [yellow]{invalid} row(s) invalid or failed[/yellow]" if invalid else ""),
              highlight=False)
    if interrupted:
        err.print("[yellow]interrupted[/yellow]: finished rows kept", highlight=False)
        raise typer.Exit(130)
