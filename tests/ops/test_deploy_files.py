"""The Dockerfile and compose.yaml, checked without a Docker engine (none runs on CI's machine).

What can be proven here is proven for real: the runtime stage's file layout is rebuilt from the
Dockerfile's own COPY and RUN lines in a temporary /app, and the image's entry points - the
`conduit` shim, `conduit db upgrade` (compose's migrate service), `conduit serve --no-migrate`
(CMD) and the HEALTHCHECK command - run from there against a fresh SQLite file. The rest of the
contract (multi-stage, slim base, non-root, hash-checked lock, health-based start order) is
read from the files. Building and running the image itself needs Docker: docs/deploy.md.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import site
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from tests.cli import clean_environment
from tests.conftest import TEST_SECRET
from tests.live import free_port, serving

ROOT = Path(__file__).parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def _instructions(stage: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of one build stage, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    found: list[tuple[str, str]] = []
    current = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        word, _, rest = line.strip().partition(" ")
        if word == "FROM":
            current = rest.split(" AS ")[-1].strip()
        elif current == stage:
            found.append((word, rest.strip()))
    return found


def _json_form(arguments: str) -> list[str]:
    command = yaml.safe_load(arguments)  # exec form: a JSON array
    assert isinstance(command, list), arguments
    return [str(part) for part in command]


def test_the_image_is_multi_stage_slim_and_runs_as_a_non_root_user() -> None:
    stages = re.findall(r"^FROM (\S+) AS (\S+)", DOCKERFILE, flags=re.MULTILINE)
    assert [name for _, name in stages] == ["build", "runtime"]
    assert all(base.endswith("-slim") for base, _ in stages)
    build = _instructions("build")
    assert ("RUN", "/opt/venv/bin/pip install --require-hashes -r /tmp/main.lock") in build
    runtime = _instructions("runtime")
    assert ("USER", "conduit") in runtime
    assert not any(word == "RUN" and "pip install" in rest for word, rest in runtime)
    assert any(word == "HEALTHCHECK" and "/health/live" in rest for word, rest in runtime)
    cmd = next(rest for word, rest in runtime if word == "CMD")
    assert _json_form(cmd)[:2] == ["conduit", "serve"]


def test_compose_starts_the_api_after_healthy_services_and_a_finished_migration() -> None:
    services = COMPOSE["services"]
    assert {"postgres", "redis", "migrate", "api"} <= set(services)
    assert services["postgres"]["healthcheck"] and services["redis"]["healthcheck"]
    assert services["migrate"]["command"] == ["conduit", "db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    api = services["api"]["depends_on"]
    assert api["migrate"]["condition"] == "service_completed_successfully"
    assert api["postgres"]["condition"] == "service_healthy"
    assert api["redis"]["condition"] == "service_healthy"
    environment = services["api"]["environment"]
    assert environment["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert environment["REDIS_URL"].startswith("redis://")
    assert "--no-migrate" in services["api"]["command"]


def test_compose_runs_a_job_worker_beside_the_api() -> None:
    worker = COMPOSE["services"]["worker"]
    assert worker["command"] == ["conduit", "worker"]
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert (
        worker["environment"]["DATABASE_URL"]
        == COMPOSE["services"]["api"]["environment"]["DATABASE_URL"]
    )


def _build_runtime_layout(app_dir: Path) -> Path:
    """/app as the runtime stage lays it out: its COPY lines, then its RUN line's shim."""
    bin_dir = app_dir / "bin"
    bin_dir.mkdir(parents=True)
    for word, rest in _instructions("runtime"):
        if word == "COPY" and not rest.startswith("--from"):  # --from: the venv, ours already
            source, target = (ROOT / rest.split()[0]), app_dir / rest.split()[1]
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(source, target / source.name if rest.endswith("/") else target)
    shim_line = next(rest for word, rest in _instructions("runtime") if "printf" in rest)
    shim = shlex.split(shim_line.split("&&")[0])[1].encode().decode("unicode_escape")
    shim_path = bin_dir / "conduit"
    # `-S`: no .pth files, so the checkout's editable install cannot stand in for /app/src;
    # the dependencies come from site-packages on PYTHONPATH, as the image's venv provides.
    shim_path.write_text(shim.replace("#!/opt/venv/bin/python", f"#!{sys.executable} -S"))
    shim_path.chmod(0o755)
    return shim_path


def test_the_runtime_layout_migrates_serves_and_passes_its_healthcheck(tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    conduit = _build_runtime_layout(app_dir)
    assert {"alembic.ini", "alembic", "src"} <= {p.name for p in app_dir.iterdir()}
    port = free_port()
    env = clean_environment(
        # The image's ENV: the package runs from /app (then the venv's packages).
        PYTHONPATH=os.pathsep.join([str(app_dir), *site.getsitepackages()]),
        ENVIRONMENT="production",
        LOG_FORMAT="json",
        SECRET_KEY=TEST_SECRET,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'data.db'}",
    )
    where = subprocess.run(
        [sys.executable, "-S", "-c", "import src; print(src.__file__)"],
        cwd=app_dir,  # the image's WORKDIR
        env=env,
        capture_output=True,
    )
    assert where.stdout.decode().strip() == str(app_dir / "src" / "__init__.py")
    migrate = subprocess.run(  # noqa: S603 - compose's migrate service
        [str(conduit), "db", "upgrade"], cwd=app_dir, env=env, capture_output=True, timeout=60
    )
    assert migrate.returncode == 0, migrate.stderr.decode()

    cmd = _json_form(next(rest for word, rest in _instructions("runtime") if word == "CMD"))
    command = [str(conduit), *cmd[1:]]
    command[command.index("--port") + 1] = str(port)
    command[command.index("--host") + 1] = "127.0.0.1"
    with serving(command, port, app_dir, env, tmp_path / "server.log") as server:
        healthcheck = next(rest for word, rest in _instructions("runtime") if word == "HEALTHCHECK")
        probe = _json_form(healthcheck.split(" CMD ", 1)[1])
        assert probe[0] == "python"
        script = probe[2].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        result = subprocess.run([sys.executable, "-c", script], timeout=10)  # noqa: S603
        assert result.returncode == 0  # healthy
        articles = httpx.get(f"{server.url}/api/articles", timeout=5)
        assert articles.json() == {"articles": [], "articlesCount": 0}
