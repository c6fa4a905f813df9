# ruff: noqa: T201 - a command-line tool: its report is its output
"""Sum what every CI step counted, from the logs `.ci/run` kept, into one closing line.

Usage: python3 scripts/ci_tally.py LOG_DIR. Standard library only (runs outside the venv).
Exits non-zero when a step's log has no count at all: a step that ran nothing is a failure.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# pytest's final line, e.g. "==== 638 passed, 2 skipped in 336.29s (0:05:36) ====".
PYTEST_SUMMARY = re.compile(r"^=+ (?P<body>.*?) in [\d.]+s")
PYTEST_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)")
# newman's table row: "│ assertions │ 311 │ 0 │" (executed, failed).
NEWMAN_ASSERTIONS = re.compile(r"assertions\s*│\s*(\d+)\s*│\s*(\d+)")
# schemathesis's summary: "4507 generated, 4507 passed" (and ", N failed" when some did).
FUZZ_CASES = re.compile(r"(\d+) generated, (\d+) passed(?:, (\d+) failed)?")


def pytest_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in text.splitlines():
        match = PYTEST_SUMMARY.match(line)
        if match and PYTEST_COUNT.search(match["body"]):
            counts = {kind: int(n) for n, kind in PYTEST_COUNT.findall(match["body"])}
    return counts


def main(log_dir: Path) -> int:
    passed = failed = skipped = 0
    missing: list[str] = []
    for log in sorted(log_dir.glob("*.log")):
        text = log.read_text(errors="replace")
        if log.name.startswith("pytest-"):
            counts = pytest_counts(text)
            if not counts:
                missing.append(log.stem)
                continue
            passed += counts.get("passed", 0)
            failed += counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0)
            skipped += counts.get("skipped", 0)
            print(f"{log.stem}: {counts}")
        elif log.name.startswith("postman-"):
            rows = NEWMAN_ASSERTIONS.findall(text)
            if not rows:
                missing.append(log.stem)
                continue
            executed, bad = map(int, rows[-1])
            print(f"{log.stem}: {executed} assertions, {bad} failed")
            failed += bad
        elif log.name.startswith("fuzz-"):
            cases = FUZZ_CASES.findall(text)
            if not cases:
                missing.append(log.stem)
                continue
            generated, ok, bad = cases[-1]
            print(f"{log.stem}: {generated} generated cases, {ok} passed")
            failed += int(bad or 0)
    if missing:
        print(f"no count found in: {', '.join(missing)}", file=sys.stderr)
        failed += len(missing)
    # The plain closing line CI reads: pytest tests on both databases.
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or missing or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
