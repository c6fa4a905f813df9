"""The tags a worker last sent (src/api/validators.py): a bounded map, fresh only while the
database is where the page was read."""

from __future__ import annotations

from src.api.validators import Validated, Validators, request_key

SCOPE = {"path": "/api/articles", "query_string": b"limit=2"}


def _entry(tag: str, version: str) -> Validated:
    return Validated(tag=tag, version=version, not_modified=[(b"etag", tag.encode())])


def test_a_tag_is_fresh_while_the_database_is_where_it_was_read() -> None:
    validators = Validators(capacity=4)
    key = request_key(SCOPE, "Token abc")
    validators.remember(key, _entry('"t1"', "v1"))

    assert validators.fresh(key, "v1", '"t1"') == _entry('"t1"', "v1")
    assert validators.fresh(key, "v1", '"other", W/"t1"') is not None  # any tag, weak too
    assert validators.fresh(key, "v2", 'W/"t1"') is None  # written since
    assert validators.fresh(key, "v1", 'W/"t0"') is None  # the client holds another
    assert validators.fresh(request_key(SCOPE, None), "v1", 'W/"t1"') is None  # anonymous


def test_the_oldest_entry_goes_when_the_map_is_full_and_a_new_one_replaces_its_key() -> None:
    validators = Validators(capacity=2)
    keys = [request_key({**SCOPE, "path": f"/api/articles/{n}"}, None) for n in range(3)]
    validators.remember(keys[0], _entry('"a"', "v"))
    validators.remember(keys[1], _entry('"b"', "v"))
    validators.remember(keys[0], _entry('"a2"', "v"))  # a key again: moved to the newest
    validators.remember(keys[2], _entry('"c"', "v"))

    assert validators.fresh(keys[1], "v", '"b"') is None  # the oldest went
    assert validators.fresh(keys[0], "v", '"a2"') is not None
    assert validators.fresh(keys[2], "v", '"c"') is not None
