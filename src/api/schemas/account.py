"""Bodies for the account's own life: deleting it, and exporting everything it holds."""

from __future__ import annotations

from pydantic import Field

from src.api.schemas import examples as ex
from src.api.schemas.base import CamelModel, Timestamp
from src.api.schemas.users import LoginPassword


class AccountDeletion(CamelModel):
    # Needed unless the session proved the password within REAUTH_WINDOW_SECONDS.
    current_password: LoginPassword | None = None


class AccountDeletionRequest(CamelModel):
    model_config = ex.examples({"user": {"currentPassword": "jakejake"}})

    user: AccountDeletion


# The body is optional: a session that proved the password recently sends none.
NO_PROOF_SENT = AccountDeletionRequest(user=AccountDeletion())


class ExportedProfileOut(CamelModel):
    username: str
    email: str
    bio: str | None
    image: str | None
    role: str
    created_at: Timestamp
    updated_at: Timestamp


class ExportedArticleOut(CamelModel):
    slug: str
    title: str
    description: str
    body: str
    tag_list: list[str]
    favorites_count: int
    created_at: Timestamp
    updated_at: Timestamp


class ExportedCommentOut(CamelModel):
    id: int
    article: str = Field(description="The commented article's slug.")
    body: str
    created_at: Timestamp
    updated_at: Timestamp


class ExportedFavoriteOut(CamelModel):
    article: str = Field(description="The favorited article's slug.")
    created_at: Timestamp


class ExportedFollowOut(CamelModel):
    username: str
    created_at: Timestamp


class ExportedSessionOut(CamelModel):
    current: bool = Field(description="The session this export was asked from.")
    created_at: Timestamp
    expires_at: Timestamp
    revoked_at: Timestamp | None
    password_verified_at: Timestamp | None


class AccountExportOut(CamelModel):
    profile: ExportedProfileOut
    articles: list[ExportedArticleOut]
    comments: list[ExportedCommentOut]
    favorites: list[ExportedFavoriteOut]
    following: list[ExportedFollowOut]
    followers: list[ExportedFollowOut]
    sessions: list[ExportedSessionOut]


class AccountExportResponse(CamelModel):
    model_config = ex.examples(
        {
            "account": {
                "profile": {
                    "username": "jake",
                    "email": "jake@jake.jake",
                    "bio": "I work at statefarm",
                    "image": None,
                    "role": "user",
                    "createdAt": ex.TIMESTAMP,
                    "updatedAt": ex.TIMESTAMP,
                },
                "articles": [],
                "comments": [],
                "favorites": [],
                "following": [],
                "followers": [],
                "sessions": [
                    {
                        "current": True,
                        "createdAt": ex.TIMESTAMP,
                        "expiresAt": ex.TIMESTAMP,
                        "revokedAt": None,
                        "passwordVerifiedAt": ex.TIMESTAMP,
                    }
                ],
            }
        }
    )

    account: AccountExportOut
