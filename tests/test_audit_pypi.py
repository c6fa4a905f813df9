"""scripts/audit_pypi.py: the advisory check CI falls back on where pip-audit cannot look."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "audit_pypi.py"
LOCK = """\
fastapi==1.0.0 \\
    --hash=sha256:00
ecdsa==0.19.2 ; python_version >= '3' \\
    --hash=sha256:11
bcrypt==4.3.0 \\
    --hash=sha256:22
"""
PROJECTS: dict[str, dict[str, Any]] = {
    "fastapi": {"info": {"version": "1.0.0"}, "vulnerabilities": []},
    "ecdsa": {
        "info": {"version": "0.19.2"},
        "vulnerabilities": [{"id": "PYSEC-1", "aliases": ["GHSA-x"], "link": "https://x"}],
    },
    "bcrypt": {"info": {"version": "5.0.0"}, "vulnerabilities": []},
}


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_pypi", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *flags: str) -> int:
    audit = _load()
    monkeypatch.setattr(audit, "project", lambda name: PROJECTS[name])  # no network in tests
    lock = tmp_path / "main.lock"
    lock.write_text(LOCK)
    monkeypatch.setattr(sys, "argv", ["audit_pypi.py", str(lock), *flags])
    return int(audit.main())


def test_an_advisory_on_a_locked_latest_release_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, monkeypatch) == 1
    out = capsys.readouterr().out
    assert "VULNERABLE ecdsa 0.19.2: PYSEC-1" in out
    assert "2 of 3 locked packages audited" in out


def test_an_accepted_advisory_passes_by_any_of_its_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _run(tmp_path, monkeypatch, "--ignore", "GHSA-x") == 0


def test_a_package_below_its_latest_release_is_named_and_fails_only_when_strict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, monkeypatch, "--ignore", "PYSEC-1", "--strict") == 1
    assert "bcrypt 4.3.0 (latest 5.0.0)" in capsys.readouterr().out
