"""Cross-cutting infrastructure: settings, database, security primitives."""
