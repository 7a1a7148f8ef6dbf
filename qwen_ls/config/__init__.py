"""Configuration of one workspace folder: .env files, settings.json, folder trust, and
the auth type, model, base URL and key a chat uses, each with its source."""

from __future__ import annotations

from qwen_ls.config.cache import ConfigCache
from qwen_ls.config.model import (
    EditorSettings,
    OAuthStatus,
    Provider,
    ResolvedConfig,
    Source,
    Sourced,
    mask_secret,
)
from qwen_ls.config.resolve import resolve
from qwen_ls.config.urls import chat_completions_url

__all__ = [
    "ConfigCache",
    "EditorSettings",
    "OAuthStatus",
    "Provider",
    "ResolvedConfig",
    "Source",
    "Sourced",
    "chat_completions_url",
    "mask_secret",
    "resolve",
]
