"""House rules the code keeps: a comment says why in a line and points at docs/, never at a
tracker that is not in the repository ("issue 4" means nothing to whoever reads it next)."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = ("src", "alembic")
# "issue 4", "Issue #12", "issues 3 and 5", also when a comment wraps between the two words.
TRACKER_CITATION = re.compile(r"\bissues?\s*#?\s*\d+", re.IGNORECASE)
_PROSE = frozenset({tokenize.COMMENT, tokenize.STRING})


def tracker_citations(source: str) -> list[tuple[int, str]]:
    """(line, text) of each comment or string (docstrings included) that cites a tracker issue.

    Consecutive comment lines are read as one text, so a citation split by a wrap is found too.
    """
    found: list[tuple[int, str]] = []
    run: list[tuple[int, str]] = []  # the comment lines read so far, one after another

    def close_run() -> None:
        if run and TRACKER_CITATION.search(" ".join(text for _, text in run)):
            found.append(run[0])
        run.clear()

    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            if run and run[-1][0] != token.start[0] - 1:
                close_run()
            run.append((token.start[0], token.string.lstrip("#").strip()))
            if token.line[: token.start[1]].strip():  # after code: a comment of its own
                close_run()
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            close_run()
            if token.type in _PROSE and TRACKER_CITATION.search(token.string):
                found.append((token.start[0], token.string.splitlines()[0]))
    close_run()
    return found


def test_the_check_finds_a_tracker_citation_however_it_is_written() -> None:
    source = (
        '"""Module docstring (issue 4)."""\n'
        "x = 1  # Issue #12: a trailing comment\n"
        "# a comment that wraps between the words, issue\n"
        "# 5, on the next line\n"
        "def f() -> None:\n"
        '    """A function\'s docstring, over two lines.\n\n    See issues 3 and 5.\n    """\n'
    )

    assert [line for line, _ in tracker_citations(source)] == [1, 2, 3, 6]


def test_the_check_leaves_words_that_only_look_alike() -> None:
    source = (
        "# the tokens issued 5 minutes ago; an issue with the pool (docs/performance.md)\n"
        "issuer = 'conduit'  # the JWT's iss claim\n"
        "# step 4 of the login\n"
    )

    assert tracker_citations(source) == []


def test_no_comment_in_the_code_cites_a_tracker_issue() -> None:
    citations = [
        f"{path.relative_to(ROOT)}:{line}: {text}"
        for folder in CODE
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line, text in tracker_citations(path.read_text(encoding="utf-8"))
    ]

    assert citations == [], "point at the docs/ section that explains it instead:\n" + "\n".join(
        citations
    )
