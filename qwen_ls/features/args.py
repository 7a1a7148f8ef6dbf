"""The argument objects of the `qwen.*` commands, validated so that a bad call is
answered with InvalidParams naming the field, and never reaches a feature."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MAX_PROMPT_CHARS = 100_000
MAX_CONTEXT_CHARS = 200_000
MAX_ID_CHARS = 256
MAX_URI_CHARS = 4_096


class InvalidArguments(ValueError):
    """A command was called with arguments that do not fit its documented shape."""


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Position(_Args):
    line: int = Field(ge=0, le=10_000_000)
    character: int = Field(ge=0, le=10_000_000)


class Range(_Args):
    start: Position
    end: Position

    @field_validator("end")
    @classmethod
    def _ordered(cls, end: Position, info: Any) -> Position:
        start = info.data.get("start")
        if start is not None and (end.line, end.character) < (
            start.line,
            start.character,
        ):
            raise ValueError("range end is before its start")
        return end


Token = int | str


class ChatArgs(_Args):
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    uri: str | None = Field(default=None, max_length=MAX_URI_CHARS)
    range: Range | None = None
    session_id: str | None = Field(
        default=None, alias="sessionId", max_length=MAX_ID_CHARS
    )
    model: str | None = Field(default=None, min_length=1, max_length=MAX_ID_CHARS)
    partial_result_token: Token | None = Field(default=None, alias="partialResultToken")
    notify: bool = False

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, prompt: str) -> str:
        if not prompt.strip():
            raise ValueError("the prompt is empty")
        return prompt

    @field_validator("range")
    @classmethod
    def _range_needs_uri(cls, value: Range | None, info: Any) -> Range | None:
        if value is not None and not info.data.get("uri"):
            raise ValueError("a range needs the document's uri")
        return value


class EditArgs(_Args):
    uri: str = Field(min_length=1, max_length=MAX_URI_CHARS)
    range: Range
    instruction: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    session_id: str | None = Field(
        default=None, alias="sessionId", max_length=MAX_ID_CHARS
    )
    partial_result_token: Token | None = Field(default=None, alias="partialResultToken")
    notify: bool = False

    @field_validator("instruction")
    @classmethod
    def _not_blank(cls, instruction: str) -> str:
        if not instruction.strip():
            raise ValueError("the instruction is empty")
        return instruction


class StatusArgs(_Args):
    uri: str | None = Field(default=None, max_length=MAX_URI_CHARS)


class ListModelsArgs(_Args):
    uri: str | None = Field(default=None, max_length=MAX_URI_CHARS)


class SelectModelArgs(_Args):
    model: str | None = Field(default=None, min_length=1, max_length=MAX_ID_CHARS)
    uri: str | None = Field(default=None, max_length=MAX_URI_CHARS)
    scope: Literal["workspace", "user"] | None = None

    @field_validator("model")
    @classmethod
    def _plain_id(cls, model: str | None) -> str | None:
        if model is not None and (
            not model.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in model)
        ):
            raise ValueError("a model id is one line of visible text")
        return model


A = TypeVar("A", bound=_Args)


def parse_args(model: type[A], arguments: Sequence[Any] | None) -> A:
    """Validate the single argument object of a command (none counts as `{}`)."""
    if not isinstance(arguments, (list, tuple, type(None))):
        raise InvalidArguments("arguments: expected a list holding one object")
    if not arguments:
        raw: Any = {}
    elif len(arguments) == 1:
        raw = arguments[0]
    else:
        raise InvalidArguments(
            "arguments: expected at most one argument, an object "
            f"(got {len(arguments)})"
        )
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidArguments(
            f"arguments[0]: expected an object, got {type(raw).__name__}"
        )
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InvalidArguments(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    parts = []
    # What the caller sent wrongly first, then what it left out.
    errors = sorted(exc.errors(), key=lambda e: e["type"] == "missing")
    for error in errors[:4]:
        field = ".".join(str(p) for p in error["loc"]) or "arguments[0]"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        message = message.removeprefix("Value error, ")
        parts.append(f"{field}: {message}")
    return "; ".join(parts)


ScopeName = Literal["workspace", "user"]


# Sign-in: qwen.auth and qwen.logout.

AuthMethod = Literal["qwen-oauth", "openai", "coding-plan"]


class AuthArgs(_Args):
    method: AuthMethod | None = None
    # Checked by qwen_ls.auth.validate_api_key, whose messages say what is wrong
    # without quoting the key.
    api_key: str | None = Field(default=None, alias="apiKey", repr=False)
    base_url: str | None = Field(
        default=None, alias="baseUrl", max_length=MAX_URI_CHARS
    )
    model: str | None = Field(default=None, min_length=1, max_length=MAX_ID_CHARS)
    uri: str | None = Field(default=None, max_length=MAX_URI_CHARS)
    scope: ScopeName | None = None


class LogoutArgs(_Args):
    uri: str | None = Field(default=None, max_length=MAX_URI_CHARS)
    scope: ScopeName | None = None
