"""Signing in: the Qwen OAuth device flow, the credentials file shared with the Qwen
Code CLI, and storing API keys where a settings scope reads them."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from qwen_ls.auth.apikey import (
    CODING_PLAN_BASE_URL,
    CODING_PLAN_ENV_KEY,
    CODING_PLAN_GLOBAL_BASE_URL,
    CODING_PLAN_MODEL,
    CODING_PLAN_MODELS,
    KeyNotStored,
    StoredKey,
    protect_from_git,
    store_api_key,
    store_env_values,
    validate_api_key,
    validate_coding_plan_key,
)
from qwen_ls.auth.credentials import (
    CredentialsError,
    CredentialsNotSaved,
    CredentialStore,
    LockTimeout,
    OAuthCredentials,
    credentials_from_token,
)

if TYPE_CHECKING:
    from qwen_ls.auth.oauth import (
        DEFAULT_BASE,
        DeviceAuthorization,
        OAuthError,
        QwenOAuth,
        TokenResponse,
    )
    from qwen_ls.auth.tokens import TokenManager

# The OAuth client needs httpx (about 50 ms at start-up); reading keys and settings
# does not, so these load when first used.
_LAZY = {
    "DEFAULT_BASE": "oauth",
    "DeviceAuthorization": "oauth",
    "OAuthError": "oauth",
    "QwenOAuth": "oauth",
    "TokenResponse": "oauth",
    "TokenManager": "tokens",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "CODING_PLAN_BASE_URL",
    "CODING_PLAN_ENV_KEY",
    "CODING_PLAN_GLOBAL_BASE_URL",
    "CODING_PLAN_MODEL",
    "CODING_PLAN_MODELS",
    "DEFAULT_BASE",
    "CredentialStore",
    "CredentialsError",
    "CredentialsNotSaved",
    "DeviceAuthorization",
    "KeyNotStored",
    "LockTimeout",
    "OAuthCredentials",
    "OAuthError",
    "QwenOAuth",
    "StoredKey",
    "TokenManager",
    "TokenResponse",
    "credentials_from_token",
    "protect_from_git",
    "store_api_key",
    "store_env_values",
    "validate_api_key",
    "validate_coding_plan_key",
]
