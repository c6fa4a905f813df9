"""wrk, the load generator: a scenario as a wrk Lua script, and wrk's numbers as a dict."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from typing import Any

from bench.scenarios import Scenario

ERROR_KINDS = ("connect", "read", "write", "status", "timeout")  # wrk's; status: not 2xx/3xx


def require_wrk() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: run bench/run (it installs it) or apt-get install wrk")


def lua_script(scenario: Scenario, token: str | None, tokens: tuple[str, ...] = ()) -> str:
    headers = {"Content-Type": "application/json"}
    if scenario.auth and token:
        headers["Authorization"] = f"Token {token}"
    headers.update(scenario.headers or {})
    lines = [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    lines.append(f'wrk.method = "{scenario.method}"')
    if scenario.body:
        lines.append(f"wrk.body = [==[{scenario.body}]==]")
    if scenario.users:
        lines.append("tokens = {" + ",".join(f'"{t}"' for t in tokens) + "}")
        lines.append(
            "signed = function(i)\n"
            ' return {["Content-Type"] = "application/json",'
            ' ["Authorization"] = "Token " .. tokens[(i % #tokens) + 1]}\n'
            "end"
        )
    if scenario.lua_request:
        # Each wrk run its own random sequence: unseeded, every run (a warm-up, the measured
        # run, the next scenario) would draw the same numbers, and the creates' titles, so
        # their slugs, would collide with the last run's (a second statement for each).
        lines.append("math.randomseed(os.time())")
        lines.append("counter = 0")
        lines.append(f"request = function()\n counter = counter + 1\n{scenario.lua_request}\nend")
    lines.append(
        """done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,'
    .. '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end"""
    )
    return "\n".join(lines) + "\n"


def run_wrk(
    url: str, script: str, seconds: int, connections: int, cpus: str, rate_delay_ms: int = 0
) -> dict[str, Any]:
    if rate_delay_ms:
        script += f"delay = function() return {rate_delay_ms} end\n"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        path = handle.name
    try:
        command = ["taskset", "-c", cpus, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
        command += ["-s", path, url]
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    finally:
        os.unlink(path)
    lines = [x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")]
    if not lines:
        raise SystemExit(f"wrk failed on {url}:\n{done.stdout}\n{done.stderr}\n{script}")
    line = lines[0]
    data: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    errors = sum(data[k] for k in ERROR_KINDS)
    data["errors"] = errors
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def warmed_wrk(
    url: str,
    script: str,
    warmup: int,
    seconds: int,
    connections: int,
    cpus: str,
    rate_delay_ms: int = 0,
) -> dict[str, Any]:
    """run_wrk after `warmup` seconds of the same load, whose numbers are dropped."""
    run_wrk(url, script, warmup, connections, cpus, rate_delay_ms)
    return run_wrk(url, script, seconds, connections, cpus, rate_delay_ms)
