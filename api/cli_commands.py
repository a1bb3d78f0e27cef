"""Core commands: generate, solve, demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from api.cli import UserError, friendly, load_ready, out, write_json


def register(app: typer.Typer) -> None:
    app.command()(generate)
    app.command()(solve)
    app.command()(demo)


@friendly
def generate(
    carers: Annotated[int, typer.Option(min=1, help="number of carers")] = 20,
    clients: Annotated[int, typer.Option(min=1, help="number of clients")] = 60,
    days: Annotated[int, typer.Option(min=1, max=28, help="days in the horizon")] = 1,
    seed: Annotated[int, typer.Option(help="random seed: same seed, same file")] = 0,
    double: Annotated[float, typer.Option(min=0, max=1, help="share of care hours double-handed")] = 0.45,
    walkers: Annotated[float, typer.Option(min=0, max=1, help="share of carers who walk")] = 0.3,
    localities: Annotated[int, typer.Option(min=1, help="locality areas (one is rural)")] = 4,
    demand_ratio: Annotated[
        float | None,
        typer.Option(min=0.05, help="size calls to the carers: care minutes / carer minutes on "
                     "shift in each call peak (default: each client's own care package)"),
    ] = None,
    short_calls: Annotated[bool, typer.Option(help="allow 15-minute calls")] = False,
    start: Annotated[str, typer.Option(help="first day, YYYY-MM-DD")] = "2026-11-30",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="file (default stdout)")] = None,
) -> None:
    """Write a realistic generated carerota/1 problem (a provider or a district)."""
    from datetime import date

    from optimiser.generate import GeneratorOptions
    from optimiser.generate import generate as make

    try:
        first = date.fromisoformat(start)
    except ValueError as exc:
        raise UserError(f"--start: {start!r} is not a YYYY-MM-DD date") from exc
    problem = make(GeneratorOptions(
        carers=carers, clients=clients, days=days, seed=seed, double_share=double,
        walker_share=walkers, localities=localities, demand_ratio=demand_ratio,
        short_calls=short_calls, start=first,
    ))
    write_json(problem.model_dump(mode="json", exclude_none=True), output)


@friendly
def solve(
    problem: Annotated[Path, typer.Argument(help="problem JSON")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="solution file")] = None,
    time_limit: Annotated[
        float | None, typer.Option(min=0.1, help="seconds (default: the problem's)")
    ] = None,
    workers: Annotated[int, typer.Option(min=0, help="CP-SAT workers; 0 = all cores")] = 0,
    seed: Annotated[int | None, typer.Option(help="random seed (default: the problem's, else 0)")] = None,
) -> None:
    """Solve a rota problem and write the solution (validated before it is written)."""
    from optimiser.solve import SolveOptions
    from optimiser.solve import solve as run
    from optimiser.summary import summary_lines
    from optimiser.validate import validate as check

    compiled = load_ready(problem)
    opts = SolveOptions.for_problem(compiled.problem, time_limit=time_limit, workers=workers, seed=seed)
    solution = run(compiled, opts)
    violations = check(compiled, solution)
    if violations:  # never hand a user an invalid rota silently
        raise UserError("internal error, the rota breaks rules: " + "; ".join(map(str, violations[:5])))
    write_json(solution.model_dump(mode="json", exclude_none=True), output)
    if output is not None:
        for line in summary_lines(compiled, solution):
            out.print(line, highlight=False)


@friendly
def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the rota")] = Path(
        "carerota-demo-rota.json"),
    time_limit: Annotated[float, typer.Option(min=0.5)] = 10.0,
) -> None:
    """Generate a demo provider day, solve it, print a summary and write the rota."""
    from optimiser.domain.compiled import compile_problem
    from optimiser.generate import GeneratorOptions
    from optimiser.generate import generate as make
    from optimiser.solve import SolveOptions
    from optimiser.solve import solve as run
    from optimiser.summary import summary_lines

    problem = make(GeneratorOptions(carers=15, clients=30, days=1, seed=1))
    compiled = compile_problem(problem)
    out.print(f"demo provider day: {len(problem.carers)} carers, {len(problem.clients)} clients, "
              f"{len(problem.visits)} visits; solving for up to {time_limit:.0f} s ...")
    solution = run(compiled, SolveOptions(time_limit=time_limit, workers=0, seed=0))
    for line in summary_lines(compiled, solution):
        out.print(line, highlight=False)
    write_json(solution.model_dump(mode="json", exclude_none=True), output)
    Path(output.with_name(output.stem + "-problem.json")).write_text(
        json.dumps(problem.model_dump(mode="json", exclude_none=True), indent=1))
    out.print(f"rota written to {output}")
