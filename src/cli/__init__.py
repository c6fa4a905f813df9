"""The `conduit` command line (main.py: serve, config, seed, create-admin, openapi, db) and
the bench data loader behind `conduit seed` (bench_data.py)."""
