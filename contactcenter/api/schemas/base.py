"""Shared pieces of every request model: strict input, clean text, partial updates, common field types."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    ValidationInfo,
    field_validator,
)


def _check_text(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_text(item)


class Strict(BaseModel):
    """Every request body and query: unknown fields are refused, and no text anywhere in it (nested JSON
    included) holds NUL characters or lone surrogates: they are never meaningful and PostgreSQL refuses them."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _clean_text(cls, value: Any) -> Any:
        _check_text(value)
        return value


def folded(value: Any) -> Any:
    """Trim and lower-case a string before its pattern is checked."""
    return value.strip().lower() if isinstance(value, str) else value




LanguageCode = Annotated[str, StringConstraints(strip_whitespace=True, max_length=8,
                                                pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,4})?$")]
ChannelName = Annotated[str, BeforeValidator(folded), StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,19}$")]


class Patch(Strict):
    """A partial update: fields left out stay as they are; ``null`` is accepted only where it means
    "none" (the fields named in ``nullable``), never to blank out a required value."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("may not be null; leave the field out to keep its value")
        return value
