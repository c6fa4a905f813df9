"""`conduit seed`: run the bulk loader (src/cli/bench_data.py) with a progress bar."""

from __future__ import annotations

import asyncio
import time

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from src.cli.bench_data import DatabaseNotEmpty, SeedPlan, seed
from src.core.config import Settings
from src.core.db import create_engine


def run_seed(
    settings: Settings,
    users: int,
    articles: int,
    tags: int,
    follows: int,
    favorites: int,
    comments: int,
    random_seed: int,
    star_followers: int = 0,
    prolific_articles: int = 0,
) -> None:
    plan = SeedPlan(
        users=users,
        articles=articles,
        tags=tags,
        follows_per_user=follows,
        favorites_per_article=favorites,
        comments_per_article=comments,
        seed=random_seed,
        star_followers=star_followers,
        prolific_articles=prolific_articles,
        pull_followers=settings.feed_pull_followers,
        pull_articles=settings.feed_pull_articles,
    )
    started = time.monotonic()
    try:
        asyncio.run(_run(settings, plan))
    except DatabaseNotEmpty as exc:
        typer.echo(f"Not seeded: {exc}.", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(
        f"Seeded {users:,} users and {articles:,} articles in {time.monotonic() - started:.1f} s."
    )


async def _run(settings: Settings, plan: SeedPlan) -> None:
    # A bulk load runs statements far longer than a request may (COPY, the final recount).
    engine = create_engine(settings.model_copy(update={"db_command_timeout_seconds": 3600.0}))
    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task("users + articles", total=plan.work)
            await seed(engine, plan, lambda n: progress.advance(task, n))
    finally:
        await engine.dispose()
