"""ORM mapping only: tables, columns, constraints and indexes. No behaviour."""

from src.models.article import Article, ArticleTag, Favorite, Tag
from src.models.base import Base
from src.models.comment import Comment
from src.models.counter import Counter
from src.models.feed import FeedCount, FeedEntry
from src.models.job import Job
from src.models.session import AuthSession, RefreshToken
from src.models.user import Follow, User

__all__ = [
    "Article",
    "ArticleTag",
    "AuthSession",
    "Base",
    "Comment",
    "Counter",
    "Favorite",
    "FeedCount",
    "FeedEntry",
    "Follow",
    "Job",
    "RefreshToken",
    "Tag",
    "User",
]
