"""bench/run's command line: every option, typed."""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    database_url: str
    duration: int
    warmup: int
    connections: int
    workers: int
    port: int
    floor_port: int
    only: str
    login_rate: float
    login_rounds: int
    soak: int
    pairs: int
    pair_duration: int
    log_level: str
    output: str


def parse_args(description: str | None, argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="bench/run", description=description)
    parser.add_argument("--database-url", required=True, help="postgresql+asyncpg://... (seeded)")
    parser.add_argument("--duration", type=int, default=15, help="seconds per scenario")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds per scenario")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--floor-port", type=int, default=8766)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument(
        "--login-rate", type=float, default=20.0, help="logins/s beside the paced reads"
    )
    parser.add_argument(
        "--login-rounds", type=int, default=3, help="alone/beside rounds; the median is kept"
    )
    parser.add_argument("--soak", type=int, default=0, help="N x 60 s list runs for RSS growth")
    parser.add_argument(
        "--pairs", type=int, default=5, help="floor/read pairs per target read (0: none)"
    )
    parser.add_argument("--pair-duration", type=int, default=5, help="seconds per pair half")
    parser.add_argument("--log-level", default="WARNING", help="server LOG_LEVEL")
    parser.add_argument("--output", default="", help="JSON file (default bench/results-*.json)")
    return Options(**vars(parser.parse_args(argv)))
