"""Bytes on the wire: one request per content coding for a path, counted as the socket sees
them (status line, headers and body), the body decoded and checked against the identity one.

Run by bench/run when a scenario sends Accept-Encoding; alone against a running server:
`.venv/bin/python -m bench.wire_bytes http://127.0.0.1:8765 /api/articles`.
"""

from __future__ import annotations

import gzip
import socket
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import brotli  # type: ignore[import-untyped]  # brotli ships no type hints
import zstandard

# What each row asks for: the coding the server should pick (zstd > br > gzip), and a 304.
CODINGS: dict[str, dict[str, str]] = {
    "identity": {},
    "gzip": {"Accept-Encoding": "gzip"},
    "br": {"Accept-Encoding": "br"},
    "zstd": {"Accept-Encoding": "zstd"},
    "gzip, br": {"Accept-Encoding": "gzip, br"},
    "304 (gzip, br)": {"Accept-Encoding": "gzip, br", "If-None-Match": "*"},
}
DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.decompress,
    "br": brotli.decompress,
    "zstd": lambda raw: zstandard.ZstdDecompressor().decompressobj().decompress(raw),
}


@dataclass(frozen=True)
class Wire:
    asked: str
    status: int
    coding: str  # Content-Encoding, "" for none
    total: int  # status line + headers + body
    headers: int
    body: int
    content_length_right: bool  # Content-Length, when sent, is the body's size on the wire
    same_content: bool  # the decoded body is the identity body (a 304: it has none)


def fetch(base: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes, int]:
    """(status, headers, raw body, bytes of the head) of one HTTP/1.1 request, connection closed."""
    url = urlsplit(base)
    lines = [f"GET {path} HTTP/1.1", f"Host: {url.netloc}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), 30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), parsed, body, len(head) + 4


def measure(base: str, path: str) -> list[Wire]:
    """One row per entry of CODINGS (plain bodies only: no chunked transfer coding expected)."""
    _, _, identity, _ = fetch(base, path, {})
    rows = []
    for asked, headers in CODINGS.items():
        status, got, body, head = fetch(base, path, headers)
        coding = got.get("content-encoding", "")
        length = got.get("content-length")
        decoded = DECODERS[coding](body) if coding in DECODERS else body
        rows.append(
            Wire(
                asked,
                status,
                coding,
                head + len(body),
                head,
                len(body),
                length is None or int(length) == len(body),
                decoded == (b"" if status == 304 else identity),
            )
        )
    return rows


def wire_bytes(base: str, paths: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """{label: rows} for each labelled path, printed as they are measured."""
    report = {}
    for label, path in paths.items():
        rows = measure(base, path)
        print_rows(label, rows)
        report[label] = [asdict(r) for r in rows]
    return report


def print_rows(label: str, rows: list[Wire]) -> None:
    identity = rows[0].total
    print(f"\nbytes on the wire, {label}:")
    print(f"  {'asked':16} {'status':>6} {'coding':>8} {'total':>7} {'headers':>7} {'body':>7}")
    for r in rows:
        checks = "ok" if r.content_length_right and r.same_content else "WRONG"
        print(
            f"  {r.asked:16} {r.status:6d} {r.coding or '-':>8} {r.total:7d} {r.headers:7d} "
            f"{r.body:7d}  {r.total / identity:5.1%} of identity  {checks}"
        )


if __name__ == "__main__":
    wire_bytes(sys.argv[1], {path: path for path in sys.argv[2:]})
