"""Hashing stays off the event loop: a paced read's p99 alone, then beside logins at a fixed rate.

The reads are paced (8 connections, each waiting 4 ms between requests, well under capacity),
so their p99 shows whether a login ever holds up the event loop; a saturating reader would
only show the core's time being shared. The logins come open loop from bench/login_load.py:
wrk's pause-after-answer pacing would slow down exactly when hashing queues. See
bench/README.md, "2. One command", step 6.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.scenarios import LOGIN_EMAIL, PASSWORD, Scenario
from bench.servers import ROOT, Pins
from bench.wrk import lua_script, run_wrk
from src.core.security import HASHING_NICENESS

READERS = 8  # connections
PAUSE_MS = 4  # between one reader's requests


@dataclass(frozen=True)
class Logins:
    base: str  # Conduit
    slug: str  # the single article read
    cpus: str  # wrk's and the logins'
    rate: float  # logins/s
    rounds: int  # alone/beside rounds; the median is kept
    seconds: int  # per measure


def alone_then_beside(logins: Logins) -> dict[str, Any]:
    read = Scenario("single article", "GET", f"/api/articles/{logins.slug}")
    paced = lua_script(read, None) + f"delay = function() return {PAUSE_MS} end\n"
    url = logins.base + read.path
    body = json.dumps({"user": {"email": LOGIN_EMAIL, "password": PASSWORD}})
    command = ["taskset", "-c", logins.cpus, sys.executable, "-m", "bench.login_load"]
    command += [f"{logins.base}/api/users/login", body, f"--rate={logins.rate}"]
    command += [f"--seconds={logins.seconds + 2}"]
    alone = run_wrk(url, paced, logins.seconds, READERS, logins.cpus)
    sender = subprocess.Popen(  # noqa: S603 - our own command line
        command, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    time.sleep(1)
    beside = run_wrk(url, paced, logins.seconds, READERS, logins.cpus)
    lw = json.loads(sender.communicate()[0])
    return {
        "read_p99_alone_ms": alone["p99_us"] / 1000,
        "read_p99_beside_logins_ms": beside["p99_us"] / 1000,
        "ratio": beside["p99_us"] / max(alone["p99_us"], 1),
        "reads_per_s_alone": alone["rps"],
        "reads_per_s_beside_logins": beside["rps"],
        "logins_per_s": lw["logins_per_s"],
        "login_errors": lw["errors"],
        "login_p50_ms": lw["p50_ms"],
        "login_p99_ms": lw["p99_ms"],
    }


def rounds(logins: Logins) -> dict[str, Any]:
    """Alone, then beside the logins, `rounds` times: a read's p99 swings between runs on a
    noisy machine, so the round with the median ratio is reported, with every round's ratio."""
    runs = [alone_then_beside(logins) for _ in range(logins.rounds)]
    runs.sort(key=lambda run: run["ratio"])
    return {**runs[len(runs) // 2], "ratios": [round(r["ratio"], 2) for r in runs]}


def logins_vs_reads(logins: Logins, pins: Pins, server_pid: int) -> dict[str, Any]:
    """The report's "logins_vs_reads" and, when the server is pinned apart from wrk,
    "logins_vs_reads_hashing_unpinned"."""
    # 1. Everything on the server's one core: the event loop, both hashing threads.
    report = {"logins_vs_reads": rounds(logins)}
    # 2. The event loop still pinned, the hashing threads (nice 10) free to run on
    # either core, as on an unpinned 2-core machine with one worker.
    if pins.server != pins.client:
        threads = hashing_threads(server_pid)
        for tid in threads:
            os.sched_setaffinity(tid, range(os.cpu_count() or 1))
        report["logins_vs_reads_hashing_unpinned"] = {
            **rounds(logins),
            "hashing_threads_moved": len(threads),
        }
    return report


def hashing_threads(pid: int) -> list[int]:
    """The server's password-hashing threads: the ones at HASHING_NICENESS."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        if int(fields[16]) == HASHING_NICENESS:  # field 19 of stat: nice
            found.append(int(task.name))
    return found
