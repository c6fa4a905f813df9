"""Does a route of the app take this request's method at its path?

The layers outside the router (the request guard's 415, the idempotency keys) act only on
requests a route will take: anything else goes on to the router, whose 404 or 405 (with its
`Allow`) is the answer a client needs first. Asked only on those layers' rarer paths (a refused
content type, a keyed write), never on every request.
"""

from __future__ import annotations

from starlette.routing import Match
from starlette.types import Scope


def routes_here(scope: Scope) -> bool:
    router = getattr(scope.get("app"), "router", None)
    if router is None:  # outside an app (a layer tested alone): assume it does
        return True
    return any(route.matches(scope)[0] is Match.FULL for route in router.routes)
