"""Every message a client may see, in one place."""

# RealWorld spec 2.0.0's messages: its conformance suite compares them exactly, and the key
# says what they are about (the field, `credentials`, `token`, or the resource: `article`...).
TAKEN = "has already been taken"
BLANK = "can't be blank"
INVALID_CREDENTIALS = "invalid"
NOT_FOUND = "not found"
FORBIDDEN = "forbidden"
AUTH_REQUIRED = "is missing"  # under `token`: no token where one is required
# Our own.
CANNOT_FOLLOW_SELF = "cannot follow yourself"
TOO_LONG = "is too long (maximum is {maximum} characters)"
SLUG_EXHAUSTED = "could not allocate a unique slug; try again"
TOKEN_INVALID = "is invalid or expired"  # noqa: S105 - a message, not a secret
# --- accounts and security
REFRESH_TOKEN_INVALID = "refresh token is invalid, expired or already used"  # noqa: S105
# Under `currentPassword`: changing the password or email from a session that has not proven
# the password recently, without it or with a wrong one.
CURRENT_PASSWORD_REQUIRED = "is required to change the email or password"  # noqa: S105
CURRENT_PASSWORD_INVALID = "is invalid"  # noqa: S105 - a message, not a secret
# Under `token`: a link or code sent by e-mail (verification, password reset) that is unknown,
# expired, already used, or issued before the password or the address changed.
ACCOUNT_TOKEN_INVALID = "is invalid, expired or already used"  # noqa: S105
# Under `email`: a content write by an account whose address is not verified, when
# UNVERIFIED_ACCOUNTS_CAN_WRITE is off.
EMAIL_UNVERIFIED = (
    "must be verified before you can post, comment, favorite or follow: open the link "
    "mailed to it (POST /api/user/verify-email mails a new one)"
)
# The same proof, to delete the account.
CURRENT_PASSWORD_REQUIRED_TO_DELETE = "is required to delete the account"  # noqa: S105
# Under the resource (`article`, `user`): an If-Match naming a version that is no longer current.
PRECONDITION_FAILED = "has changed since you read it; read it again"
TOO_MANY_REQUESTS = "too many requests; retry after {seconds} seconds"
DATABASE_UNAVAILABLE = "is unavailable, retry after {seconds} seconds"
NOT_ADMIN = "only an administrator may do this"
BODY_TOO_LARGE = "request body too large"
# Answered by the server itself (src/api/asgi/server.py), before the app sees the request.
HEADERS_TOO_LARGE = "request headers too large"
HEADERS_TOO_SLOW = "request headers not received in time"
SERVER_BUSY = "too many connections, retry after {seconds} seconds"
BODY_TOO_DEEP = "JSON nesting is too deep"
UNSUPPORTED_MEDIA_TYPE = "content type must be application/json"
HOST_NOT_ALLOWED = "host is not allowed"
CANNOT_DEACTIVATE_SELF = "an administrator cannot deactivate their own account"
LAST_ACTIVE_ADMIN = "the last active administrator cannot be deactivated"
LAST_ACTIVE_ADMIN_DELETED = "the last active administrator cannot be deleted"
# API keys (src/services/api_keys.py, src/services/scopes.py).
API_KEY_SCOPE_MISSING = "this API key lacks the {scope} scope"  # under `scope`
API_KEY_NOT_ACCEPTED = "API keys cannot be used here; sign in instead"  # under `token`
API_KEY_SCOPE_UNKNOWN = "has an unknown scope: {scope}"  # under `scopes`
API_KEY_LIMIT = "at most {maximum} API keys per user; revoke one first"  # under `key`
# Cursor pages (src/services/cursors.py, src/api/paging.py), under `cursor` and `offset`.
CURSOR_INVALID = "is invalid, or was issued for another list"
CURSOR_WITH_OFFSET = "cannot be combined with offset; a cursor says where the page starts"
OFFSET_PAST_MAXIMUM = "must be less than or equal to {maximum}; page further with cursor"
# Safe retries (src/services/idempotency.py, src/api/asgi/idempotency.py), under `Idempotency-Key`.
IDEMPOTENCY_KEY_INVALID = (
    "must be 1 to 255 visible ASCII characters, without quotes or backslashes, sent once"
)
IDEMPOTENCY_KEY_RUNNING = "a request with this key is still being processed; retry later"
IDEMPOTENCY_KEY_REUSED = "was already used for a different request; use a new key"
# --- profile pictures (src/services/media), under `image` (`body` for the request's type)
IMAGE_TOO_LARGE = "is too large (maximum is {maximum} bytes)"
IMAGE_REQUEST_TYPE = "send the picture as multipart/form-data (field `image`) or as an image/* body"
IMAGE_UNSUPPORTED = "must be a PNG, JPEG, GIF or WebP image"
IMAGE_TYPE_MISMATCH = "is declared as {declared} but its content is {actual}"
IMAGE_CORRUPT = "is truncated or corrupt"
IMAGE_TOO_MANY_PIXELS = "has too many pixels (maximum is {maximum})"
IMAGE_POLYGLOT = "carries content that is not part of the picture (markup or another file)"
# --- webhooks (under `url`, `webhook` or `delivery`)
WEBHOOK_URL_INVALID = "is not a valid URL"
WEBHOOK_URL_NOT_HTTPS = "must use https"
WEBHOOK_URL_NO_HOST = "must name a host"
WEBHOOK_URL_NOT_PUBLIC = "must not point at a loopback, private, link-local or metadata address"
WEBHOOK_TOO_MANY = "at most {maximum} webhooks per user"
WEBHOOK_DELIVERY_PENDING = "is already waiting for its next attempt"
