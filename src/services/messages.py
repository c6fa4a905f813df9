"""Every message a client may see, in one place."""

TAKEN = "has already been taken"
BLANK = "can't be blank"
INVALID_CREDENTIALS = "email or password is invalid"
USER_NOT_FOUND = "user not found"
PROFILE_NOT_FOUND = "profile not found"
ARTICLE_NOT_FOUND = "article not found"
COMMENT_NOT_FOUND = "comment not found"
CANNOT_FOLLOW_SELF = "cannot follow yourself"
NOT_ARTICLE_AUTHOR = "only the author may change this article"
NOT_COMMENT_AUTHOR = "only the comment's author or the article's author may delete this comment"
SLUG_EXHAUSTED = "could not allocate a unique slug; try again"
AUTH_REQUIRED = "authentication required"
TOKEN_INVALID = "token is invalid or expired"  # noqa: S105 - a message, not a secret
# --- accounts and security (issue 3)
REFRESH_TOKEN_INVALID = "refresh token is invalid, expired or already used"  # noqa: S105
TOO_MANY_REQUESTS = "too many requests; retry after {seconds} seconds"
NOT_ADMIN = "only an administrator may do this"
BODY_TOO_LARGE = "request body too large"
BODY_TOO_DEEP = "JSON nesting is too deep"
UNSUPPORTED_MEDIA_TYPE = "content type must be application/json"
HOST_NOT_ALLOWED = "host is not allowed"
CANNOT_DEACTIVATE_SELF = "an administrator cannot deactivate their own account"
