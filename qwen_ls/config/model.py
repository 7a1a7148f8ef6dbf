"""Typed results of configuration resolution: every value carries where it came from."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

T = TypeVar("T")

Level = Literal["editor", "process", "user", "project", "default"]

# Short keys are hidden entirely: 7 shown characters of a 10-character key give it away.
_MASK_MIN_LENGTH = 12


def mask_secret(value: str) -> str:
    """Show at most the first 3 and last 4 characters, e.g. ``sk-…0000``."""
    if len(value) < _MASK_MIN_LENGTH:
        return "…"
    return f"{value[:3]}…{value[-4:]}"


class Source(BaseModel):
    """Where a value came from, in words a user can act on."""

    model_config = ConfigDict(frozen=True)

    description: str
    level: Level


class Sourced(BaseModel, Generic[T]):
    """A value together with its source."""

    model_config = ConfigDict(frozen=True)

    value: T
    source: Source


class EditorSettings(BaseModel):
    """The ``qwen`` section of initializationOptions / workspace configuration."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    auth_type: str | None = Field(default=None, alias="authType")
    model: str | None = None
    openai_base_url: str | None = Field(default=None, alias="openaiBaseUrl")
    openai_api_key: str | None = Field(default=None, alias="openaiApiKey", repr=False)
    # Set by the server, never by a client: where ``model`` came from when it is not
    # the editor's own value (a model chosen with qwen.selectModel for this session).
    model_source: str | None = Field(default=None, exclude=True)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @classmethod
    def from_lsp(cls, obj: Any) -> tuple[EditorSettings, list[str]]:
        """Accept what a client sent (None, ``{...}`` or ``{"qwen": {...}}``).

        Wrongly typed fields are dropped and described instead of raising.
        """
        if obj is None:
            return cls(), []
        if isinstance(obj, Mapping) and "qwen" in obj:
            obj = obj["qwen"]
            if obj is None:
                return cls(), []
        if not isinstance(obj, Mapping):
            kind = type(obj).__name__
            return cls(), [
                f"editor settings qwen must be an object, got {kind}; ignored"
            ]

        values: dict[str, str] = {}
        problems: list[str] = []
        for name, field in cls.model_fields.items():
            if name == "model_source":
                continue
            alias = field.alias or name
            raw = obj.get(alias, obj.get(name))
            if raw is None:
                continue
            if not isinstance(raw, str):
                kind = type(raw).__name__
                problems.append(
                    f"editor setting qwen.{alias} must be a string, got {kind}; ignored"
                )
                continue
            values[name] = raw
        return cls.model_validate(values), problems


class Provider(BaseModel):
    """One usable ``modelProviders.<authType>`` entry of the merged settings."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    description: str | None = None
    env_key: str | None = None
    base_url: str | None = None
    # generationConfig may carry custom headers holding credentials.
    generation_config: dict[str, Any] = Field(default_factory=dict, repr=False)
    auth_type: str
    source: Source


class OAuthStatus(BaseModel):
    """The Qwen OAuth sign-in as the server knows it at this moment; it is per user,
    so every folder sees the same one."""

    model_config = ConfigDict(frozen=True)

    creds_file: Path
    signed_in: bool
    """Credentials are present and not known to be rejected (an expired access
    token with a refresh token still counts: it is refreshed on use)."""
    base_url: str | None = None
    """The endpoint the credentials are valid for (from ``resource_url``)."""
    rejected: bool = False
    """The endpoint or the token server refused these credentials."""
    problem: str | None = None
    """Why not signed in, or what else the user should know."""
    pending: str | None = None
    """A sign-in waiting for the user's approval in the browser, in words."""


class ResolvedConfig(BaseModel):
    """The effective configuration of one workspace folder (or of no folder)."""

    model_config = ConfigDict(frozen=True)

    workspace_folder: Path | None
    trusted: bool
    auth_type: Sourced[str] | None
    model: Sourced[str]
    base_url: Sourced[str] | None
    api_key: Sourced[SecretStr] | None
    api_key_var: str
    provider: Provider | None
    providers: dict[str, list[Provider]]
    env_file: Path | None
    # Both hold credentials in plain text: out of repr() and of model_dump() output.
    env: dict[str, str] = Field(repr=False, exclude=True)
    settings: dict[str, Any] = Field(repr=False, exclude=True)
    user_settings_path: Path
    workspace_settings_path: Path | None
    problems: list[str]
    watched_files: list[Path]
    oauth: OAuthStatus | None = None
    """Attached by the server (not by resolution): the state of the Qwen OAuth
    sign-in, which depends on tokens and refreshes rather than on files alone."""

    def masked_api_key(self) -> str | None:
        """The API key masked for display, or None when there is none."""
        if self.api_key is None:
            return None
        return mask_secret(self.api_key.value.get_secret_value())
