"""Stored emails in the one normalized form (src/services/users.py `normalize_email`).

Before, an email was stored lower-cased with its domain as Unicode (`bücher.de`), while
`conduit create-admin` stored what it was given (an NFD local part, a punycode domain). Logins
and the unique index now compare NFC, lower-cased, with the domain as its IDNA A-label
(`xn--bcher-kva.de`): rows stored otherwise are rewritten, or their owners could not log in.
Only rows with a non-ASCII character can differ (ASCII ones were always stored lower-cased).
A row whose normalized form another row already holds (one mailbox registered once by its
Unicode domain and once by its punycode) keeps its email and is named in a warning for an
operator to merge. Downgrade leaves the emails as they are: the old code finds them too.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 16:00:00
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from src.services.errors import Invalid
from src.services.users import normalize_email

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("alembic.runtime.migration")

# The rows whose email has a non-ASCII character: more bytes than characters.
NON_ASCII_ROWS = {
    "postgresql": "SELECT id, email FROM users "
    "WHERE octet_length(email) <> char_length(email) ORDER BY id",
    "sqlite": "SELECT id, email FROM users "
    "WHERE length(CAST(email AS BLOB)) <> length(email) ORDER BY id",
}


def upgrade() -> None:
    if context.is_offline_mode():  # a generated SQL script cannot run Python over the rows
        logger.warning("offline: emails are not normalized; run this revision online")
        return
    bind = op.get_bind()
    rows = bind.execute(sa.text(NON_ASCII_ROWS[bind.dialect.name])).all()
    for user_id, email in rows:
        try:
            normalized = normalize_email(email)
        except Invalid:
            logger.warning("user %s: email too long once normalized; left as it is", user_id)
            continue
        if normalized == email:
            continue
        holder = bind.execute(
            sa.text("SELECT id FROM users WHERE email = :email"), {"email": normalized}
        ).scalar()
        if holder is not None:
            logger.warning(
                "user %s: email normalizes to user %s's; left as it is (merge them)",
                user_id,
                holder,
            )
            continue
        bind.execute(
            sa.text("UPDATE users SET email = :email WHERE id = :id"),
            {"email": normalized, "id": user_id},
        )


def downgrade() -> None:
    pass
