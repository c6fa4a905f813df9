"""The floor: the least a server can do to answer the anonymous article list (see app.py)."""
