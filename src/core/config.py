"""All runtime settings, read once from the environment (and `.env`)."""

from __future__ import annotations

import ipaddress
import re
from functools import cached_property
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_SECRET_KEY = "conduit-development-secret-change-me"  # noqa: S105 - refused in production
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./conduit.db"
SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


class Settings(BaseSettings):
    """Every setting the service reads; names match the environment variables."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    environment: Literal["development", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    redis_url: str | None = None
    # Redis only shares the rate-limit counters: a slow or dead Redis must not stall requests.
    # Each call is bounded by this; after a failure each worker counts in its own memory for
    # REDIS_BREAKER_SECONDS, then one request tries Redis again.
    redis_timeout_seconds: float = Field(default=0.25, gt=0, le=30)
    redis_breaker_seconds: float = Field(default=5.0, gt=0, le=3600)
    # /health/ready: a failing Redis is 503 when required, else 200 with status "degraded".
    redis_required: bool = False

    access_token_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    # Bounded so a token we sign always fits security.MAX_ACCESS_TOKEN_LENGTH.
    jwt_issuer: str = Field(default="conduit", min_length=1, max_length=255)
    jwt_audience: str = Field(default="conduit-api", min_length=1, max_length=255)

    # Kept open, not overflow: an overflow connection is closed when it comes back, so a steady
    # load would pay a connect, a TLS handshake and cold statement caches over and over
    # (docs/performance.md, "A pool that does not churn").
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=0, ge=0)
    # PostgreSQL: the hot reads' own asyncpg pool, per worker (src/core/reads.py); opened on
    # first use, so a worker holds at most DB_POOL_SIZE + DB_MAX_OVERFLOW + this connections.
    db_read_pool_size: int = Field(default=10, ge=1)
    # The article list, feed and single article answered without FastAPI's router (the same
    # route functions; src/api/asgi/hot_reads.py). Off only to compare the two paths.
    hot_reads_enabled: bool = True
    # Creates, favorites and comments likewise (src/api/asgi/hot_writes.py); off to compare.
    hot_writes_enabled: bool = True
    # Bodies at least this large are compressed (zstd, br or gzip, as Accept-Encoding allows);
    # smaller ones cost more to compress than they save. 0: every compressible body.
    compression_min_bytes: int = Field(default=1024, ge=0)
    # Anonymous API reads: how long shared caches may keep them (public, max-age); 0 means
    # every use revalidates (no-cache). Signed-in reads are always private, no-cache.
    anonymous_cache_max_age_seconds: int = Field(default=0, ge=0, le=86_400)
    # Per worker, on PostgreSQL: how many (request, tag) pairs are remembered so a conditional
    # hot read can be answered 304 without its read while nothing was committed; 0: never
    # (docs/performance.md, "Conditional requests").
    conditional_validators: int = Field(default=10_000, ge=0, le=1_000_000)
    db_echo: bool = False

    # --- Accounts and security: passwords, sessions, abuse limits, headers ---
    # argon2id cost, OWASP's recommended minimum (19 MiB, 2 passes, 1 lane). Raising them
    # rehashes each password at its next login.
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_cost_kib: int = Field(default=19 * 1024, ge=8)
    argon2_parallelism: int = Field(default=1, ge=1)
    # Threads per worker that hash or verify passwords; more logins at once queue for them.
    # Bounds memory (each argon2 hash holds ARGON2_MEMORY_COST_KIB while it runs) and leaves
    # the other core to the event loop.
    password_hash_threads: int = Field(default=2, ge=1, le=64)
    # A refresh token (and so a session) lives this long without use being needed to extend it.
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    # A repeat of the refresh token just rotated (a retry after a lost reply) gets the same
    # new pair within this many seconds; later, a repeat ends the session as a theft.
    refresh_reuse_grace_seconds: int = Field(default=30, ge=0, le=300)
    # Changing the password or the email without `currentPassword` is allowed only this long
    # after the session proved the password (login or registration; refreshes do not count).
    reauth_window_seconds: int = Field(default=600, ge=0, le=24 * 3600)
    # Rate limits: requests per window, per client IP and per account (0 turns one off).
    rate_limit_enabled: bool = True
    rate_limit_window_seconds: int = Field(default=60, ge=1)
    rate_limit_login_per_ip: int = Field(default=30, ge=0)
    rate_limit_login_per_account: int = Field(default=10, ge=0)
    rate_limit_register_per_ip: int = Field(default=20, ge=0)
    rate_limit_refresh_per_ip: int = Field(default=60, ge=0)
    rate_limit_refresh_per_session: int = Field(default=10, ge=0)
    rate_limit_writes_per_user: int = Field(default=120, ge=0)
    # Every request made with an API key (reads too), per key, in the same window.
    rate_limit_per_api_key: int = Field(default=600, ge=0)
    # Proxies whose X-Forwarded-For is believed (IPs or CIDRs); empty: use the socket peer.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Host headers accepted; ["*"] accepts any (put the real names here in production).
    trusted_hosts: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=32, ge=4)
    hsts_max_age_seconds: int = Field(default=365 * 24 * 3600, ge=0)

    # --- API docs: /docs, /redoc and /openapi.json; off in deployments that want it
    docs_enabled: bool = True

    # --- Operations: logs, database outages, shutdown, optional integrations ---
    # Log format: "json" (one object a line) or "console" (for people); "auto" picks json in
    # production and console in development.
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    access_log: bool = True
    # A request fails fast (503) when PostgreSQL is unreachable instead of hanging: connecting,
    # waiting for a pooled connection and running one statement are all bounded.
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    db_command_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Ping each pooled connection before use. Off: that is one more round trip on every request
    # (docs/performance.md, "The request path"); a connection found dead fails its one request
    # with a 503 and the whole pool is replaced at once (SQLAlchemy invalidates it on a
    # disconnect), so recovery stays automatic.
    db_pool_pre_ping: bool = False
    # Sent as Retry-After with 503s while the database (or Redis) is unavailable.
    retry_after_seconds: int = Field(default=5, ge=1, le=3600)
    # Bound on each /health/ready dependency check.
    health_check_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    # On SIGTERM, in-flight requests get this long to finish before connections are closed.
    shutdown_grace_seconds: float = Field(default=25.0, ge=0, le=3600)
    # `conduit serve`, per worker: a request's head (request line and headers) beyond
    # MAX_HEADER_BYTES is 431 and one not sent within HEADER_TIMEOUT_SECONDS is 408; beyond
    # LIMIT_CONCURRENCY open connections or requests in flight, requests get 503 (0: no limit);
    # an idle keep-alive connection is closed after KEEP_ALIVE_TIMEOUT_SECONDS (docs/deploy.md).
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    limit_concurrency: int = Field(default=1000, ge=0)
    keep_alive_timeout_seconds: int = Field(default=5, ge=1, le=3600)
    metrics_enabled: bool = True
    # --- Background jobs (src/services/jobs; docs/architecture.md, "Background jobs") ---
    # Run the jobs inside `conduit serve` too; unset: yes on SQLite, no on PostgreSQL (run
    # `conduit worker` beside it there).
    jobs_in_process: bool | None = None
    # An idle worker looks for due jobs this often.
    jobs_poll_interval_seconds: float = Field(default=0.5, gt=0, le=60)
    # Jobs one worker process (or one `conduit serve` process) runs at a time.
    jobs_concurrency: int = Field(default=4, ge=1, le=64)
    # Quick jobs (the feeds' steps) one slot claims in one statement and runs in turn.
    jobs_claim_batch: int = Field(default=8, ge=1, le=100)
    # An idle slot woken by a new job waits this long before it claims, so that the jobs of a
    # burst are claimed (and run) together; 0: at once.
    jobs_gather_seconds: float = Field(default=0.01, ge=0, le=1)
    # A claimed job not finished in this long is taken to be lost (its worker died) and retried.
    jobs_lease_seconds: float = Field(default=300.0, ge=1, le=24 * 3600)
    # Attempts before a failing job is kept as dead; retries wait BASE * 2^(attempt - 1)
    # seconds, at most MAX.
    jobs_max_attempts: int = Field(default=10, ge=1, le=100)
    jobs_backoff_base_seconds: float = Field(default=1.0, gt=0, le=3600)
    jobs_backoff_max_seconds: float = Field(default=3600.0, gt=0, le=7 * 24 * 3600)
    # Feed rows one fan-out job writes or removes per step before it enqueues the rest.
    feed_fanout_batch: int = Field(default=1000, ge=1, le=5000)
    # An author with more followers, or more articles, than these is pulled: the feed reads
    # their articles at read time instead of copying them into every follower's feed. The
    # articles' one is a fan-out step: a follow copies at most one step (docs/architecture.md,
    # "Pulled authors").
    feed_pull_followers: int = Field(default=10_000, ge=1)
    feed_pull_articles: int = Field(default=1_000, ge=1)
    # --- Safe retries (Idempotency-Key; docs/architecture.md, "Safe retries") ---
    # A keyed write's answer is replayed to retries with its key for this long; then the key
    # may be used again.
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60, le=7 * 24 * 3600)
    # A keyed request still running after this long is taken to be lost (its process died):
    # a retry with its key may run it again.
    idempotency_lease_seconds: int = Field(default=120, ge=5, le=3600)
    # --- Webhooks (src/services/webhooks; docs/webhooks.md) ---
    # Targets whose address (after DNS, and after each redirect) is loopback, private,
    # link-local or a cloud metadata address are refused unless in these networks (CIDRs).
    webhooks_allowed_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Plain http:// endpoints are refused unless this allows them.
    webhooks_allow_http: bool = False
    # Redirects an attempt follows, each target checked again; 0: a 3xx is a failed attempt.
    webhooks_max_redirects: int = Field(default=0, ge=0, le=5)
    # Bounds of one attempt: connecting, the whole exchange, and the response bytes read.
    webhooks_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhooks_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    webhooks_max_response_bytes: int = Field(default=65_536, ge=0, le=1024 * 1024)
    # Retries after a network error, timeout, 5xx or 429: BASE * 2^(attempt - 1) seconds at
    # most MAX, with jitter (or the endpoint's Retry-After), for WINDOW from the first attempt.
    webhooks_retry_base_seconds: float = Field(default=30.0, gt=0, le=3600)
    webhooks_retry_max_seconds: float = Field(default=3 * 3600.0, gt=0, le=24 * 3600)
    webhooks_retry_window_seconds: float = Field(default=24 * 3600.0, gt=0, le=7 * 24 * 3600)
    # An endpoint whose every attempt failed for this long is disabled, with the reason.
    webhooks_disable_after_seconds: float = Field(default=3 * 24 * 3600.0, gt=0)
    # Attempts to one endpoint in flight at once per worker process; more wait their turn.
    webhooks_endpoint_concurrency: int = Field(default=2, ge=1, le=64)
    # Deliveries (and their attempts) are deleted this long after they were created; pending
    # ones are kept until they settle.
    webhooks_retention_days: int = Field(default=30, ge=1, le=3650)
    # --- E-mail: verification, password reset, security notices (src/services/mail) ---
    # Who the messages say they are from, and the public URL their links point at (the
    # frontend's; it routes /verify-email?token=... and /password-reset?token=...).
    service_name: str = Field(default="Conduit", min_length=1, max_length=100)
    public_url: str = Field(default="http://localhost:8000", min_length=1, max_length=500)
    mail_from: str = Field(default="Conduit <no-reply@localhost>", min_length=3, max_length=320)
    # Unset: no SMTP; each message is logged and written to MAIL_OUTBOX_DIR (development).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    # "starttls" upgrades a plain connection (587), "tls" connects in TLS (465), "none" is for
    # a relay on a trusted network only (Mailpit in compose).
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # A PEM file of the CA certificates the SMTP server's certificate is checked against (a
    # private CA); unset: the system's trusted CAs. The certificate is always verified.
    smtp_ca_file: str | None = Field(default=None, max_length=4096)
    mail_outbox_dir: str = "mail-outbox"
    # How long a link or code sent by e-mail stays usable.
    password_reset_ttl_seconds: int = Field(default=30 * 60, ge=60, le=7 * 24 * 3600)
    email_verification_ttl_seconds: int = Field(default=48 * 3600, ge=60, le=30 * 24 * 3600)
    # Off (the spec's behaviour): PUT /api/user changes the email at once and asks the new
    # address to verify itself. On: the change waits until the link sent to the new address
    # is followed, and the response still shows the old address.
    email_change_requires_confirmation: bool = False
    # Off: an account whose address is not verified may not write content (articles, comments,
    # favorites, follows: 403 under `email`) until it is; on (RealWorld clients expect it).
    unverified_accounts_can_write: bool = True
    rate_limit_password_reset_per_ip: int = Field(default=10, ge=0)
    rate_limit_password_reset_per_account: int = Field(default=3, ge=0)
    # --- Profile pictures (src/services/media; docs/deploy.md, "Profile pictures") ---
    # "local": files under MEDIA_ROOT, served by this service at /media/; "s3": any
    # S3-compatible store (S3_*), read by clients straight from MEDIA_PUBLIC_URL.
    media_storage: Literal["local", "s3"] = "local"
    media_root: str = "media"
    # Where stored pictures are read from, without the trailing slash; unset: this service's
    # http://localhost:8000/media (local), or the bucket's URL (S3_ENDPOINT_URL/S3_BUCKET).
    media_public_url: str | None = Field(default=None, max_length=500)
    # PUT /api/user/image's whole body (multipart or raw) at most; larger is 413 unread.
    media_max_upload_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # Width x height read from the header, refused above this before anything is decoded;
    # bounded by Pillow's own decompression-bomb limit.
    media_max_image_pixels: int = Field(default=25_000_000, ge=1, le=89_478_485)
    # Threads per worker that decode and re-encode pictures; more uploads at once queue.
    media_image_threads: int = Field(default=2, ge=1, le=64)
    s3_bucket: str | None = None
    # Unset: AWS S3 itself; MinIO and others: their URL (http:// is allowed for it).
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    # Unset: credentials found as AWS SDKs find them (environment, instance role).
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # Sentry (pip install 'conduit[sentry]'): off unless SENTRY_DSN is set.
    sentry_dsn: SecretStr | None = None
    sentry_traces_sample_rate: float = Field(default=0.0, ge=0, le=1)
    # OpenTelemetry tracing (pip install 'conduit[otel]'): on when an OTLP endpoint is set, with
    # the standard variables (OTEL_EXPORTER_OTLP_HEADERS etc. are read by the SDK itself).
    otel_exporter_otlp_endpoint: str | None = None
    otel_exporter_otlp_traces_endpoint: str | None = None
    otel_service_name: str = "conduit"
    otel_sdk_disabled: bool = False

    @field_validator(
        "cors_origins",
        "trusted_proxies",
        "trusted_hosts",
        "webhooks_allowed_networks",
        mode="before",
    )
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # Operators write CORS_ORIGINS=https://a.example,https://b.example
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("webhooks_allowed_networks")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        # Refused at start-up, not at the first delivery that would have needed it.
        for text in value:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError(
                    f"{text[:60]!r} is not an IP network (write CIDRs such as 10.0.0.0/8, "
                    "comma-separated)"
                ) from None
        return value

    @field_validator(
        "smtp_host",
        "smtp_username",
        "smtp_password",
        "media_public_url",
        "s3_bucket",
        "s3_endpoint_url",
        "s3_access_key_id",
        "s3_secret_access_key",
        mode="before",
    )
    @classmethod
    def _empty_means_unset(cls, value: object) -> object:
        # Compose passes unset variables as "": no server, no login.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"DATABASE_URL is not a valid database URL: {exc}") from None
        if url.drivername not in SUPPORTED_DRIVERS:
            raise ValueError(
                f"DATABASE_URL must use one of {', '.join(SUPPORTED_DRIVERS)}; "
                f"got '{url.drivername}'"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "redis_url", "otel_exporter_otlp_endpoint", "otel_exporter_otlp_traces_endpoint"
    )
    @classmethod
    def _check_service_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        schemes = (
            ("redis", "rediss", "unix") if info.field_name == "redis_url" else ("http", "https")
        )
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in schemes or not rest:
            name = str(info.field_name).upper()
            raise ValueError(f"{name} must be a {'/'.join(schemes)}:// URL")
        return value

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        if self.is_production and self.secret_key.get_secret_value() == DEFAULT_SECRET_KEY:
            raise ValueError(
                "SECRET_KEY must be set to a private value when ENVIRONMENT=production"
            )
        if self.is_production and len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("SECRET_KEY must be at least 32 characters in production")
        if self.media_storage == "s3" and not self.s3_bucket:
            raise ValueError("S3_BUCKET must be set when MEDIA_STORAGE=s3")
        return self

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @cached_property
    def is_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"

    @property
    def jobs_run_in_process(self) -> bool:
        return self.is_sqlite if self.jobs_in_process is None else self.jobs_in_process

    @property
    def redis_enabled(self) -> bool:
        return bool(self.redis_url)

    @property
    def log_json(self) -> bool:
        return self.log_format == "json" or (self.log_format == "auto" and self.is_production)

    @property
    def otel_enabled(self) -> bool:
        endpoint = self.otel_exporter_otlp_traces_endpoint or self.otel_exporter_otlp_endpoint
        return bool(endpoint) and not self.otel_sdk_disabled


# --- Operations: `conduit config` shows every setting, never a secret ---
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


# How `conduit config --json` shows a setting: numbers and booleans stay numbers and booleans.
SettingValue = str | int | float | bool | list[str] | None


def mask_url(url: str) -> str:
    """The URL with its password, if any, replaced by `***` (fit for a terminal or a log)."""
    return _URL_PASSWORD.sub(r"\1***@", url)


def config_warnings(settings: Settings) -> dict[str, list[str]]:
    """What `conduit config` warns about, by setting: values fit for development only."""
    warnings: dict[str, list[str]] = {}
    if settings.secret_key.get_secret_value() == DEFAULT_SECRET_KEY:
        warnings["SECRET_KEY"] = [
            "is the development default: anyone can sign tokens this service accepts; "
            "set a private value of at least 32 characters"
        ]
    if settings.is_production and settings.smtp_host is None:
        warnings["SMTP_HOST"] = [
            "is unset: messages (password reset, verification, notices) are not sent, only "
            "logged and written to MAIL_OUTBOX_DIR"
        ]
    if unshared := unshared_limits_warning(settings):
        warnings["REDIS_URL"] = [unshared]
    return warnings


def unshared_limits_warning(settings: Settings, workers: int = 0) -> str | None:
    """Without REDIS_URL each worker process counts the rate limits alone: what that does
    (`conduit config`, and `conduit serve` with several workers)."""
    if not settings.rate_limit_enabled or settings.redis_url:
        return None
    n = str(workers) if workers > 1 else "N"
    return (
        f"is unset: each worker process counts the rate limits in its own memory, so with "
        f"--workers {n} every limit is {n} times higher; set REDIS_URL to share them"
    )


def masked_values(settings: Settings) -> dict[str, SettingValue]:
    """Each setting by its environment variable name, typed; secrets and URL passwords hidden."""
    shown: dict[str, SettingValue] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            shown[name.upper()] = "********" if value.get_secret_value() else ""
        elif isinstance(value, str):
            shown[name.upper()] = mask_url(value)
        elif isinstance(value, list):
            shown[name.upper()] = [mask_url(str(item)) for item in value]
        else:
            shown[name.upper()] = value
    return shown


def masked_settings(settings: Settings) -> dict[str, str]:
    """Each setting as its environment variable name and value as text (`conduit config`)."""
    shown: dict[str, str] = {}
    for name, value in masked_values(settings).items():
        if value is None:
            shown[name] = ""
        elif isinstance(value, list):
            shown[name] = ",".join(value)
        elif isinstance(value, bool):
            shown[name] = str(value).lower()
        else:
            shown[name] = str(value)
    return shown
