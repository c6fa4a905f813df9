"""What a client can hold of a real `conduit serve`: a request head is bounded in size (431) and
in time (408), requests beyond LIMIT_CONCURRENCY get 503, and a malformed token is a 401 over
the wire as in process."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx

from src.services import messages
from tests.live import LiveServer, live_server

READ_TIMEOUT = 30  # a bound for a broken server, never reached by a working one


def exchange(server: LiveServer, request: bytes) -> bytes:
    """Send raw bytes, read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def head(*lines: bytes) -> bytes:
    return b"\r\n".join([b"GET /api/tags HTTP/1.1", b"Host: conduit.test", *lines, b"", b""])


def refused_with(answer: bytes, status: bytes, message: str) -> bool:
    status_line, _, rest = answer.partition(b"\r\n")
    _, _, body = rest.partition(b"\r\n\r\n")
    return (
        status_line.startswith(b"HTTP/1.1 " + status + b" ")
        and b"connection: close" in rest.lower()
        and json.loads(body) == {"errors": {"headers": [message]}}
    )


def test_an_oversized_request_head_is_refused_with_431_and_the_connection_closed(
    database_url: str, tmp_path: Path
) -> None:
    with live_server(database_url, tmp_path) as server:
        token = httpx.post(
            f"{server.url}/api/users",
            json={"user": {"username": "big", "email": "big@example.com", "password": "pw" * 6}},
        ).json()["user"]["token"]
        oversized = {
            "one 64 KB header line": head(b"X-Padding: " + b"a" * 65536),
            "many small headers": head(*[b"X-Padding: 1234567890"] * 2000),
            "a 64 KB URL": b"GET /api/tags?" + b"a" * 65536 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            "a 100 kB token": head(b"Authorization: Token " + token.encode() + b"!" * 100_000),
            # Never finished: the parser would buffer it for as long as the client sends.
            "an unfinished 20 KB header line": head()[:-2] + b"X-Padding: " + b"a" * 20_000,
        }
        for case, request in oversized.items():
            answer = exchange(server, request)  # returns once the server closed the connection

            assert refused_with(answer, b"431", messages.HEADERS_TOO_LARGE), (case, answer[:200])

        # Heads within the bound are served as before, by the same workers.
        within = head(b"X-Padding: " + b"a" * 8000, b"Connection: close")
        assert exchange(server, within).startswith(b"HTTP/1.1 200 ")


def test_malformed_tokens_are_401_over_the_wire(database_url: str, tmp_path: Path) -> None:
    with live_server(database_url, tmp_path) as server, httpx.Client(base_url=server.url) as http:
        user = {"username": "wire", "email": "wire@example.com", "password": "pw" * 6}
        token = http.post("/api/users", json={"user": user}).json()["user"]["token"]
        for variant in (token + "!!!!", token + "==", token + "A", token + ".e30"):
            for url in ("/api/user", "/api/articles", "/api/tags"):
                response = http.get(url, headers={"Authorization": f"Token {variant}"})

                assert response.status_code == 401, (url, variant)
                assert response.json() == {"errors": {"token": [messages.TOKEN_INVALID]}}


def test_a_request_head_not_sent_in_time_is_refused_with_408(
    database_url: str, tmp_path: Path
) -> None:
    with live_server(database_url, tmp_path, HEADER_TIMEOUT_SECONDS="1") as server:
        # A slow client: part of its head, then nothing more. The server ends it, not the client.
        answer = exchange(server, b"GET /api/tags HTTP/1.1\r\nHost: conduit.test\r\nX-Slow: ")

        assert refused_with(answer, b"408", messages.HEADERS_TOO_SLOW), answer[:200]


def test_requests_beyond_the_concurrency_limit_get_503(database_url: str, tmp_path: Path) -> None:
    env = {"LIMIT_CONCURRENCY": "3", "KEEP_ALIVE_TIMEOUT_SECONDS": "600"}
    with live_server(database_url, tmp_path, **env) as server:
        # Two clients keep their connections open after a first answer (keep-alive).
        held = [httpx.Client(base_url=server.url) for _ in range(2)]
        try:
            for client in held:
                assert client.get("/api/tags").status_code == 200
            with httpx.Client(base_url=server.url) as third:
                # The third open connection reaches the limit (uvicorn counts its own).
                busy = third.get("/api/tags")
                assert busy.status_code == 503
                assert busy.headers["retry-after"] == "5"
                assert busy.json() == {
                    "errors": {"server": [messages.SERVER_BUSY.format(seconds=5)]}
                }
        finally:
            for client in held:
                client.close()
        # Once they are gone the worker serves again.
        deadline = time.monotonic() + READ_TIMEOUT
        while httpx.get(f"{server.url}/api/tags").status_code != 200:
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.1)
