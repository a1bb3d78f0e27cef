"""The `carerota` command: a thin Typer layer over optimiser, geodata, api and benchmarks.

Every command turns bad input into a message naming the field and the reason
and exit code 2, never a traceback (see `_fail`).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from optimiser.domain.errors import DocumentError

app = typer.Typer(
    name="carerota",
    help="Rota optimisation and package matching for UK home care.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()
F = TypeVar("F", bound=Callable[..., Any])


class UserError(Exception):
    """A problem with what the user asked for, reported in one line, exit 2."""


def friendly(func: F) -> F:
    """Report DocumentError/UserError as plain messages with exit code 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DocumentError as exc:
            err.print(f"[red]error:[/red] invalid {exc.kind}:", highlight=False)
            for e in exc.errors:
                err.print(f"  {e}", highlight=False, markup=False)
            raise typer.Exit(2) from None
        except UserError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def write_json(data: Any, output: Path | None) -> None:
    """Write a document to a file (atomically) or to stdout."""
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)


def read_path(path: Path, kind: str) -> Path:
    if not path.exists():
        raise UserError(f"{kind} file not found: {path}")
    return path


def load_ready(problem_path: Path):
    """Load, check and prepare (geodata) and compile a problem file."""
    from geodata.prepare import prepare
    from optimiser.domain.compiled import compile_problem
    from optimiser.domain.loading import load_problem

    problem = load_problem(read_path(problem_path, "problem"))
    problem, travel = prepare(problem)
    return compile_problem(problem, travel)


@app.command()
@friendly
def validate(
    problem: Annotated[Path, typer.Argument(help="problem JSON")],
    solution: Annotated[Path, typer.Argument(help="solution JSON")],
) -> None:
    """Check a rota against every rule of the spec; exit 0 only when it is valid."""
    from optimiser.domain.loading import load_solution
    from optimiser.validate import validate as check

    compiled = load_ready(problem)
    sol = load_solution(read_path(solution, "solution"))
    violations = check(compiled, sol)
    if not violations:
        out.print(f"[green]valid[/green]: {sum(len(r.stops) for r in sol.routes)} stops on "
                  f"{len(sol.routes)} routes, {len(sol.unassigned)} unassigned visit(s)")
        return
    out.print(f"[red]{len(violations)} violation(s)[/red]")
    for v in violations:
        out.print(f"  {v}", highlight=False, markup=False)
    raise typer.Exit(1)


def _register_subcommands() -> None:
    """Commands owned by other packages register themselves here."""
    from api.cli_commands import register as register_core
    from api.server_cli import register as register_server
    from benchmarks.cli import register as register_bench
    from geodata.cli import register as register_geodata

    register_core(app)
    register_server(app)
    register_bench(app)
    register_geodata(app)
    __import__("api.cli_match", fromlist=["register"]).register(app)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _register_subcommands()
    app()


if __name__ == "__main__":
    main()
