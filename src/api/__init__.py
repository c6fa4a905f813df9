"""HTTP: routers, request/response schemas, dependencies and the error envelope."""
