from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from src.api.schemas import examples as ex
from src.api.schemas.base import CamelModel, NextCursor, NotBlank, Timestamp
from src.api.schemas.profiles import ProfileOut

COMMENT_MAX_LENGTH = 10_000

CommentBody = Annotated[str, StringConstraints(max_length=COMMENT_MAX_LENGTH), NotBlank()]


class NewComment(CamelModel):
    body: CommentBody


class NewCommentRequest(CamelModel):
    model_config = ex.examples({"comment": {"body": "His name was my name too."}})

    comment: NewComment = Field(examples=[{"body": "His name was my name too."}])


class CommentOut(CamelModel):
    id: int
    created_at: Timestamp
    updated_at: Timestamp
    body: str
    author: ProfileOut


class CommentResponse(CamelModel):
    model_config = ex.examples({"comment": ex.COMMENT})

    comment: CommentOut


class CommentListResponse(CamelModel):
    model_config = ex.examples({"comments": [ex.COMMENT]})

    comments: list[CommentOut]
    next_cursor: NextCursor = None
