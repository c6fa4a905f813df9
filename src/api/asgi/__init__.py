"""The pure-ASGI layers a request passes before (or instead of) FastAPI, one job each."""
