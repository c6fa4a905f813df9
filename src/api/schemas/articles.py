from __future__ import annotations

from typing import Annotated

from pydantic import (
    Field,
    StringConstraints,
    TypeAdapter,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from src.api.schemas import examples as ex
from src.api.schemas.base import (
    CamelModel,
    NextCursor,
    NotBlank,
    Timestamp,
    sent_as,
    sent_at_most,
)
from src.api.schemas.profiles import ProfileOut
from src.models.article import TAG_MAX_LENGTH
from src.services import messages

TITLE_MAX_LENGTH = 255
DESCRIPTION_MAX_LENGTH = 1000
BODY_MAX_LENGTH = 100_000
TAGS_MAX_COUNT = 20

Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX_LENGTH),
    sent_at_most(TITLE_MAX_LENGTH),
    NotBlank(),
]
Description = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=DESCRIPTION_MAX_LENGTH),
    sent_at_most(DESCRIPTION_MAX_LENGTH),
    NotBlank(),
]
# Markdown keeps its whitespace: not stripped, only required to say something.
Body = Annotated[str, StringConstraints(max_length=BODY_MAX_LENGTH), NotBlank()]
TagName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TAG_MAX_LENGTH),
    sent_at_most(TAG_MAX_LENGTH),
    NotBlank(),
]
TagList = Annotated[list[TagName], Field(max_length=TAGS_MAX_COUNT)]


def _dedupe(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


# On create, a null tagList is accepted as "no tags": the document says so (schema fuzzing found
# the document claiming "array" while null was accepted).
NullableTagList = Annotated[
    TagList,
    WithJsonSchema({"anyOf": [TypeAdapter(TagList).json_schema(), {"type": "null"}]}),
]


class NewArticle(CamelModel):
    title: Title
    description: Description
    body: Body
    tag_list: NullableTagList = Field(default_factory=list)

    @field_validator("tag_list", mode="before")
    @classmethod
    def _null_tags_mean_none(cls, value: object) -> object:
        return [] if value is None else value

    @field_validator("tag_list")
    @classmethod
    def _unique_tags(cls, value: list[str]) -> list[str]:
        return _dedupe(value)


class NewArticleRequest(CamelModel):
    model_config = ex.examples(
        {
            "article": {
                "title": "How to train your dragon",
                "description": "Ever wonder how?",
                "body": "You have to believe",
                "tagList": ["reactjs", "angularjs", "dragons"],
            }
        }
    )

    article: NewArticle = Field(
        examples=[
            {
                "title": "How to train your dragon",
                "description": "Ever wonder how?",
                "body": "You have to believe",
                "tagList": ["reactjs", "angularjs", "dragons"],
            }
        ]
    )


class ArticleUpdate(CamelModel):
    """Only the fields sent are changed; a new title gives the article a new slug."""

    title: Annotated[Title | None, sent_as(Title)] = None
    description: Annotated[Description | None, sent_as(Description)] = None
    body: Annotated[Body | None, sent_as(Body)] = None
    tag_list: Annotated[TagList | None, sent_as(TagList)] = None

    @field_validator("title", "description", "body", "tag_list", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise PydanticCustomError("blank", messages.BLANK)
        return value

    @field_validator("tag_list")
    @classmethod
    def _unique_tags(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _dedupe(value)


class ArticleUpdateRequest(CamelModel):
    model_config = ex.examples({"article": {"title": "Did you train your dragon?"}})

    article: ArticleUpdate = Field(examples=[{"title": "Did you train your dragon?"}])


class ArticleListItemOut(CamelModel):
    """An article in a list: everything but the body (the spec leaves it out since 2024-08)."""

    slug: str
    title: str
    description: str
    tag_list: list[str]
    created_at: Timestamp
    updated_at: Timestamp
    favorited: bool
    favorites_count: int
    author: ProfileOut


class ArticleOut(ArticleListItemOut):
    body: str


class ArticleResponse(CamelModel):
    model_config = ex.examples({"article": ex.ARTICLE})

    article: ArticleOut


class ArticleListResponse(CamelModel):
    model_config = ex.examples({"articles": [ex.ARTICLE_LIST_ITEM], "articlesCount": 1})

    articles: list[ArticleListItemOut]
    articles_count: int = Field(description="How many articles match, across all pages.")
    next_cursor: NextCursor = None
