# ruff: noqa: T201 - a command-line tool: its report is its output
"""Known-vulnerability check of a lock file through PyPI's project JSON API.

pip-audit reads PyPI's per-version endpoint (/pypi/NAME/VERSION/json), which some package
mirrors do not serve ("could not be audited" for every package). The project endpoint
(/pypi/NAME/json) lists the advisories that affect the project's *latest* release. So:

- a package locked at its latest release is audited for real: any listed advisory that is
  not accepted (--ignore ID) fails the check;
- a package locked below its latest release cannot be judged this way (an advisory fixed in
  the latest release is no longer listed): it is named as unaudited, and fails the check only
  with --strict.

Usage: python3 scripts/audit_pypi.py requirements/main.lock [--ignore ID ...] [--strict]
Standard library only. Exit 1 on a finding (or, with --strict, on an unaudited package).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)
INDEX = "https://pypi.org/pypi"


def locked_packages(lock: Path) -> dict[str, str]:
    return {name.lower(): version for name, version in PINNED.findall(lock.read_text())}


def project(name: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{INDEX}/{name}/json", timeout=30) as response:  # noqa: S310  # nosec B310 - fixed https host
        data: dict[str, object] = json.load(response)
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("--ignore", action="append", default=[], help="accepted advisory id")
    parser.add_argument("--strict", action="store_true", help="fail on unaudited packages")
    args = parser.parse_args()
    packages = locked_packages(args.lock)
    with ThreadPoolExecutor(max_workers=8) as pool:
        projects = dict(zip(packages, pool.map(project, packages), strict=True))

    findings: list[str] = []
    unaudited: list[str] = []
    for name, version in sorted(packages.items()):
        info = projects[name]["info"]
        latest = info["version"] if isinstance(info, dict) else None
        if latest != version:
            unaudited.append(f"{name} {version} (latest {latest})")
            continue
        advisories = projects[name].get("vulnerabilities") or []
        for advisory in advisories if isinstance(advisories, list) else []:
            ids = {advisory.get("id"), *(advisory.get("aliases") or [])}
            if not ids & set(args.ignore):
                findings.append(f"{name} {version}: {advisory.get('id')} {advisory.get('link')}")

    audited = len(packages) - len(unaudited)
    print(f"{audited} of {len(packages)} locked packages audited (locked at their latest release)")
    for line in findings:
        print(f"VULNERABLE {line}")
    if unaudited:
        print(f"not audited (locked below their latest release): {', '.join(unaudited)}")
    if findings:
        return 1
    return 1 if unaudited and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
