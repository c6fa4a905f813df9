"""ORM mapping only: tables, columns, constraints and indexes. No behaviour."""

from src.models.account_token import AccountToken
from src.models.api_key import ApiKey
from src.models.article import Article, ArticleTag, Favorite, Tag
from src.models.base import Base
from src.models.comment import Comment
from src.models.counter import Counter
from src.models.feed import FeedCount, FeedEntry, FeedPull, FeedPulledAuthor
from src.models.idempotency_key import IdempotencyKey
from src.models.job import Job
from src.models.session import AuthSession, RefreshToken
from src.models.user import Follow, User
from src.models.webhook import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "AccountToken",
    "ApiKey",
    "Article",
    "ArticleTag",
    "AuthSession",
    "Base",
    "Comment",
    "Counter",
    "Favorite",
    "FeedCount",
    "FeedEntry",
    "FeedPull",
    "FeedPulledAuthor",
    "Follow",
    "IdempotencyKey",
    "Job",
    "RefreshToken",
    "Tag",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
