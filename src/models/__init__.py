"""ORM mapping only: tables, columns, constraints and indexes. No behaviour."""

from src.models.article import Article, ArticleTag, Favorite, Tag
from src.models.base import Base
from src.models.comment import Comment
from src.models.user import Follow, User

__all__ = ["Article", "ArticleTag", "Base", "Comment", "Favorite", "Follow", "Tag", "User"]
