# syntax=docker/dockerfile:1
# Conduit API image: `docker build -t conduit .` then see compose.yaml and docs/deploy.md.

# ---- build: install the locked dependencies (hash-checked) into a virtualenv ----
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements/main.lock /tmp/main.lock
RUN /opt/venv/bin/pip install --require-hashes -r /tmp/main.lock
# Optional integrations: docker build --build-arg EXTRAS="sentry-sdk opentelemetry-sdk ..." .
ARG EXTRAS=""
RUN if [ -n "$EXTRAS" ]; then /opt/venv/bin/pip install $EXTRAS; fi

# ---- runtime: slim, no compilers, a non-root user ----
FROM python:3.11-slim AS runtime
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ENVIRONMENT=production \
    LOG_FORMAT=json
RUN groupadd --system conduit && useradd --system --gid conduit --home-dir /app conduit
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY alembic.ini ./
COPY alembic ./alembic
COPY src ./src
# The `conduit` command (the package runs from /app, where alembic.ini is found).
RUN printf '#!/opt/venv/bin/python\nfrom src.cli.main import app\napp()\n' > /opt/venv/bin/conduit \
    && chmod 0755 /opt/venv/bin/conduit \
    && python -m compileall -q src \
    && mkdir -p /app/data && chown conduit:conduit /app/data
USER conduit
EXPOSE 8000
# Liveness only: readiness (/health/ready) is for the load balancer, not for restarting.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2).status != 200)"]
# Migrations run in their own step (compose: the `migrate` service), hence --no-migrate.
CMD ["conduit", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-migrate"]
