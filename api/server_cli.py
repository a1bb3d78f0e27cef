"""CLI commands of the HTTP service: `carerota serve` and `carerota apikey create`."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

from api.cli import UserError, friendly, out
from api.settings import Settings

DATABASE_HELP = "SQLAlchemy URL (default: $CAREROTA_DATABASE_URL, else sqlite:///./carerota.db)"


class RoleChoice(StrEnum):
    broker = "broker"
    provider = "provider"


def register(app: typer.Typer) -> None:
    """Add `serve` and the `apikey` group to the `carerota` app."""
    app.command()(serve)
    keys = typer.Typer(help="Manage API keys (only their hashes are stored).",
                       no_args_is_help=True)
    keys.command("create")(apikey_create)
    app.add_typer(keys, name="apikey")


def _settings(database: str | None, **overrides: object) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if database:
        values["database_url"] = database
    return Settings(**values)  # type: ignore[arg-type]


def _open(settings: Settings) -> sessionmaker[Session]:
    """Open and migrate the database, with a one-line reason when that is impossible."""
    from sqlalchemy.exc import ArgumentError, OperationalError

    from api.db import open_database

    try:
        return open_database(settings.database_url)
    except ArgumentError as exc:
        raise UserError(f"--database: not a database URL: {settings.database_url!r}") from exc
    except ModuleNotFoundError as exc:
        raise UserError(f"--database: the driver {exc.name!r} is not installed "
                        "(for PostgreSQL: pip install 'carerota[postgres]')") from exc
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise UserError(f"cannot open the database: {reason}") from exc


@friendly
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8000,
    database: Annotated[str | None, typer.Option(help=DATABASE_HELP)] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="solves run at the same time (default 1)")] = None,
    demo: Annotated[bool, typer.Option(
        help="load a demo district and print keys to try it with")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    networks_dir: Annotated[Path | None, typer.Option(
        file_okay=False, help="folder of network files a problem's OSM travel.path may name "
        "(default: $CAREROTA_NETWORKS_DIR; unset: OSM travel is refused)")] = None,
) -> None:
    """Run the HTTP service (FastAPI on uvicorn); OpenAPI docs at /docs."""
    import uvicorn

    from api.app import create_app

    settings = _settings(database, solve_workers=workers, networks_dir=networks_dir)
    sessions = _open(settings)
    logging.getLogger("api").setLevel(log_level.upper())
    if demo:
        from api.demo import load_demo

        keys = load_demo(sessions, progress=lambda line: out.print(line, highlight=False))
        base = f"http://{host}:{port}"
        out.print(f"demo district loaded: {', '.join(keys.providers)}", highlight=False)
        typer.echo(f"provider key for {keys.provider_id}: {keys.provider}")
        typer.echo(f"try: curl -H 'Authorization: Bearer <broker key>' {base}/v1/providers")
        typer.echo(f"docs: {base}/docs")
        typer.echo("broker key:")
        typer.echo(keys.broker)
    uvicorn.run(create_app(settings, sessions), host=host, port=port, log_level=log_level)


@friendly
def apikey_create(
    role: Annotated[RoleChoice, typer.Option(help="broker: reads all, matches; "
                                                  "provider: its own data, solves")],
    provider: Annotated[str | None, typer.Option(help="the provider id (provider keys)")] = None,
    database: Annotated[str | None, typer.Option(help=DATABASE_HELP)] = None,
) -> None:
    """Create an API key and print it on the last line (it is not shown again)."""
    from api.auth import create_key

    if role is RoleChoice.provider and not provider:
        raise UserError("--provider: a provider key needs the provider id it speaks for")
    if role is RoleChoice.broker and provider:
        raise UserError("--provider: a broker key reads every provider; omit --provider")
    sessions = _open(_settings(database))
    with sessions() as session:
        key = create_key(session, role.value, provider)
    who = f"provider {provider}" if provider else "broker"
    typer.echo(f"new {who} key (store it now; only its hash is kept):")
    typer.echo(key)
