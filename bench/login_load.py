"""Logins at a fixed rate (open loop), for bench/run's "logins beside reads" measure.

wrk can only pace a login connection by a pause after each answer, so its rate falls as
logins slow down (the hashing queue is what is being measured). This sends one login every
1/rate seconds whatever the answers do, on kept-alive connections, and prints one JSON line:
the rate achieved, errors and the logins' own latency.

Run: .venv/bin/python -m bench.login_load URL BODY [--rate 20] [--seconds 12]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from urllib.parse import urlsplit

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Client:
    def __init__(self, url: str, body: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        payload = body.encode()
        self.request = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        self.idle: list[Connection] = []

    async def login(self) -> tuple[int, float]:
        """(status, seconds) of one login; status 0 when the connection failed."""
        connection = self.idle.pop() if self.idle else None
        start = time.perf_counter()
        try:
            if connection is None:
                connection = await asyncio.open_connection(self.host, self.port)
            reader, writer = connection
            writer.write(self.request)
            await writer.drain()
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            return 0, time.perf_counter() - start
        self.idle.append(connection)
        return status, time.perf_counter() - start


async def run(url: str, body: str, rate: float, seconds: float) -> dict[str, float]:
    client = _Client(url, body)
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks: list[asyncio.Task[tuple[int, float]]] = []
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
        tasks.append(asyncio.create_task(client.login()))
    results = await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    latencies = sorted(seconds for status, seconds in results if status == 200)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    for _, writer in client.idle:
        writer.close()
    return {
        "logins": len(latencies),
        "errors": sum(1 for status, _ in results if status != 200),
        "logins_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
        "p99_ms": p99 * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("body")
    parser.add_argument("--rate", type=float, default=20.0, help="logins per second")
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.url, args.body, args.rate, args.seconds))))


if __name__ == "__main__":
    main()
