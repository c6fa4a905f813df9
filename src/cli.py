"""The `conduit` command line."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from src.core import migrations
from src.core.config import Settings

app = typer.Typer(help="Conduit: the RealWorld API server and its tools.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema migrations (Alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        # Messages only: the inputs may hold SECRET_KEY or a DATABASE_URL password.
        lines = [
            f"  {'.'.join(map(str, error['loc'])).upper() or 'settings'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        ]
        typer.echo("Invalid configuration:\n" + "\n".join(lines), err=True)
        raise typer.Exit(code=2) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations before starting.")] = True,
) -> None:
    """Apply migrations, then serve the API with uvicorn."""
    _load_settings()
    if migrate:
        migrations.upgrade("head")
    uvicorn.run(
        "src.main:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,
        server_header=False,
    )


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    _load_settings()
    migrations.upgrade(revision)


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")],
) -> None:
    """Revert migrations down to REVISION."""
    _load_settings()
    migrations.downgrade(revision)


@db_app.command("current")
def db_current() -> None:
    """Show the revision the database is at."""
    _load_settings()
    migrations.current()


if __name__ == "__main__":
    app()
