"""The `conduit` command line."""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import shutil
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from src.api.asgi.server import uvicorn_options
from src.api.routes.docs import render_openapi
from src.core import metrics, migrations
from src.core.config import (
    Settings,
    config_warnings,
    mask_url,
    masked_settings,
    masked_values,
    unshared_limits_warning,
)
from src.core.db import is_database_unavailable, unavailable_reason
from src.core.logging import configure_logging
from src.main import create_app

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


@contextmanager
def _database_errors(settings: Settings) -> Iterator[None]:
    """A database that is missing, refusing or unreachable ends the command with one line."""
    try:
        yield
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        url = mask_url(settings.database_url)
        typer.echo(f"Cannot use the database {url}: {unavailable_reason(exc)}", err=True)
        raise typer.Exit(code=1) from None


def _refuse_a_taken_port(host: str, port: int) -> None:
    """Fail before anything else runs (migrations) if the server could not listen there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn chooses
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            taken = exc.errno == errno.EADDRINUSE
            why = "is already in use" if taken else f"cannot be used ({exc.strerror or exc})"
            typer.echo(f"Cannot serve: port {port} on {host} {why}", err=True)
            raise typer.Exit(code=1) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations before starting.")] = True,
) -> None:
    """Apply migrations, then serve the API with uvicorn.

    On SIGTERM the server stops accepting connections, lets in-flight requests finish for up to
    SHUTDOWN_GRACE_SECONDS, then closes the database pool. With --workers > 1, /metrics
    aggregates every worker (PROMETHEUS_MULTIPROC_DIR, created if unset). Each worker bounds
    request heads (MAX_HEADER_BYTES, HEADER_TIMEOUT_SECONDS), connections (LIMIT_CONCURRENCY)
    and idle keep-alive (KEEP_ALIVE_TIMEOUT_SECONDS).
    """
    settings = _load_settings()
    configure_logging(settings)
    if workers > 1 and (unshared := unshared_limits_warning(settings, workers)):
        logging.getLogger("conduit").warning("REDIS_URL %s", unshared)
    _refuse_a_taken_port(host, port)
    if migrate:
        with _database_errors(settings):
            migrations.upgrade("head")
    metrics_dir = metrics.prepare_multiprocess(workers)  # before workers are spawned
    try:
        uvicorn.run(
            "src.main:app_factory",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=False,
            server_header=False,
            log_config=None,  # our handler (src/core/logging.py), JSON in production
            log_level=settings.log_level.lower(),
            access_log=False,  # replaced by our access log line, with the request id
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
            **uvicorn_options(settings),  # head size and time, connections (docs/deploy.md)
        )
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


@app.command("worker")
def worker() -> None:
    """Run background jobs (feed fan-out, ...) until SIGTERM or SIGINT.

    Run one or more beside `conduit serve` on PostgreSQL; on SQLite `conduit serve` runs them
    itself (JOBS_IN_PROCESS). Polls every JOBS_POLL_INTERVAL_SECONDS; a job its worker lost is
    retried after JOBS_LEASE_SECONDS.
    """
    from src.cli.jobs import run_worker

    settings = _load_settings()
    configure_logging(settings)
    with _database_errors(settings):
        run_worker(settings)


@app.command("jobs")
def jobs(
    retry_dead: Annotated[
        bool, typer.Option("--retry-dead", help="Queue every dead job again.")
    ] = False,
    purge_dead: Annotated[
        bool, typer.Option("--purge-dead", help="Delete every dead job.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Show the background jobs: how many are queued, running and dead, and the dead ones."""
    from src.cli.jobs import queue_report

    if retry_dead and purge_dead:
        typer.echo("Choose one of --retry-dead and --purge-dead", err=True)
        raise typer.Exit(code=2)
    settings = _load_settings()
    with _database_errors(settings):
        report = queue_report(settings, retry_dead=retry_dead, purge_dead=purge_dead)
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(report), indent=2))
        return
    if retry_dead:
        typer.echo(f"Queued again: {report.retried} dead job(s)")
    if purge_dead:
        typer.echo(f"Deleted: {report.purged} dead job(s)")
    for state, count in report.counts.items():
        typer.echo(f"{state.ljust(8)}  {count}")
    for dead in report.dead:
        typer.echo(
            f"dead job {dead.id} {dead.name} (created {dead.created_at}, "
            f"{dead.attempts} attempts): {dead.last_error}"
        )


@app.command("config")
def config(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Print the effective configuration (environment, .env, defaults) with secrets masked.

    Settings fit for development only are warned about (on stderr; `warnings` in --json).
    """
    settings = _load_settings()
    warnings = config_warnings(settings)
    if as_json:
        typer.echo(json.dumps({**masked_values(settings), "warnings": warnings}, indent=2))
        return
    values = masked_settings(settings)
    width = max(map(len, values))
    for name, value in values.items():
        typer.echo(f"{name.ljust(width)}  {value}")
    for name, messages in warnings.items():
        for message in messages:
            typer.echo(f"Warning: {name} {message}", err=True)


@app.command("seed")
def seed(
    users: Annotated[int, typer.Option(min=2, help="Users to create.")] = 1_000,
    articles: Annotated[int, typer.Option(min=0, help="Articles to create.")] = 10_000,
    tags: Annotated[int, typer.Option(min=1, help="Distinct tags (Zipf-like popularity).")] = 1_000,
    follows: Annotated[int, typer.Option(min=0, help="Users each user follows.")] = 50,
    favorites: Annotated[int, typer.Option(min=0, help="Mean favorites per article.")] = 10,
    comments: Annotated[int, typer.Option(min=0, help="Mean comments per article.")] = 3,
    random_seed: Annotated[int, typer.Option("--seed", help="Same seed, same data.")] = 1,
    star_followers: Annotated[
        int,
        typer.Option(min=0, help="Followers of user1 (a celebrity): users 2..N+1."),
    ] = 0,
    prolific_articles: Annotated[
        int, typer.Option(min=0, help="Articles (of --articles) by user2 (a celebrity).")
    ] = 0,
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations first.")] = True,
) -> None:
    """Fill an EMPTY database with a realistic data set, fast (benchmarks, demos).

    Every seeded user's password is "password"; user1@example.com is the first.
    """
    # Benchmark tooling: the bulk loader lives in src/cli/bench_data.py.
    from src.cli.seed import run_seed

    settings = _load_settings()
    with _database_errors(settings):
        if migrate:
            migrations.upgrade("head")
        run_seed(
            settings,
            users,
            articles,
            tags,
            follows,
            favorites,
            comments,
            random_seed,
            star_followers=min(star_followers, users - 1),
            prolific_articles=min(prolific_articles, articles),
        )


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="The administrator's email.")],
    username: Annotated[
        str | None, typer.Option(help="Username for a new account (default: the email's name).")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            envvar="CONDUIT_ADMIN_PASSWORD",
            help="Password (new account, or a reset). Prompted for a new account if not given.",
        ),
    ] = None,
) -> None:
    """Create an administrator, or promote (and reactivate) the user with this email."""
    # Accounts and security: the service lives in src/services/admin.py.
    from src.cli.admin import run_create_admin
    from src.services.errors import DomainError

    settings = _load_settings()
    name = username or email.split("@", 1)[0]
    with _database_errors(settings):
        try:
            account, created = run_create_admin(
                settings, email=email, username=name, password=password
            )
        except DomainError as exc:
            if exc.field != "password":
                typer.echo(f"{exc.field}: {exc.message}", err=True)
                raise typer.Exit(code=1) from None
            password = typer.prompt("Password for the new admin", hide_input=True, err=True)
            account, created = run_create_admin(
                settings, email=email, username=name, password=password
            )
    verb = "Created" if created else "Promoted"
    typer.echo(f"{verb} admin {account.username} <{account.email}>")


def _interactive() -> bool:
    return sys.stdin.isatty()


@app.command("delete-user")
def delete_user(
    username: Annotated[str, typer.Argument(help="The account to delete (any case).")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask (required when not interactive).")
    ] = False,
) -> None:
    """Delete an account for good, with its articles, comments, favorites, follows and
    sessions; every count they fed is corrected. The last active admin cannot be deleted."""
    from src.cli.admin import run_delete_user
    from src.services.errors import DomainError

    if not yes:
        if not _interactive():
            typer.echo("Refusing to delete without --yes (not interactive)", err=True)
            raise typer.Exit(code=2)
        typer.confirm(f"Delete {username} and everything they wrote?", abort=True, err=True)
    settings = _load_settings()
    with _database_errors(settings):
        try:
            run_delete_user(settings, username)
        except DomainError as exc:
            typer.echo(f"{exc.field}: {exc.message}", err=True)
            raise typer.Exit(code=1) from None
    typer.echo(f"Deleted user {username}")


@app.command("openapi")
def openapi(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to FILE instead of stdout.")
    ] = None,
) -> None:
    """Print or write the OpenAPI document the app serves (commit it as docs/openapi.json)."""
    text = render_openapi(create_app(_load_settings()))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        typer.echo(f"Wrote {output}", err=True)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    with _database_errors(_load_settings()):
        migrations.upgrade(revision)


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")],
) -> None:
    """Revert migrations down to REVISION."""
    with _database_errors(_load_settings()):
        migrations.downgrade(revision)


@db_app.command("current")
def db_current() -> None:
    """Show the revision the database is at."""
    with _database_errors(_load_settings()):
        migrations.current()


if __name__ == "__main__":
    app()
