"""Each target read's share of the floor, paired: the floor and the read back to back.

A ratio of two measures minutes apart says as much about the machine's drift as about the
code (bench/README.md, "2. One command", step 4); pairs a few seconds apart, the order swapped
every pair, put that drift on both sides, and the median of the pairs' ratios is the verdict.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.measure import Load
from bench.scenarios import FLOOR, Scenario
from bench.wrk import lua_script, warmed_wrk


def paired(load: Load, s: Scenario, pairs: int, seconds: int) -> dict[str, Any]:
    """The floor and the read, `pairs` times, each after 1 s of warm-up."""
    sides = {
        "floor": (load.floor + FLOOR.path, lua_script(FLOOR, None)),
        "read": (load.base + s.path, lua_script(s, load.token)),
    }
    rps: dict[str, list[float]] = {"floor": [], "read": []}
    for number in range(pairs):
        for side in ("floor", "read") if number % 2 == 0 else ("read", "floor"):
            url, script = sides[side]
            w = warmed_wrk(url, script, 1, seconds, load.connections, load.cpus)
            rps[side].append(w["rps"])
    ratios = sorted(r / f for r, f in zip(rps["read"], rps["floor"], strict=True))
    return {
        "of_floor": round(statistics.median(ratios), 3),
        "ratios": [round(r, 2) for r in ratios],
        "rps": round(statistics.median(rps["read"]), 1),
        "floor_rps": round(statistics.median(rps["floor"]), 1),
    }


def paired_with_floor(
    load: Load, reads: list[Scenario], pairs: int, seconds: int
) -> dict[str, Any]:
    """The report's "paired_with_floor": every read given, paired."""
    return {
        "pairs": pairs,
        "seconds": seconds,
        "reads": {s.name: paired(load, s, pairs, seconds) for s in reads},
    }
