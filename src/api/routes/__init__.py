"""The routers: one module per resource, joined in router.py."""
