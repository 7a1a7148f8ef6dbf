"""Signing in: the Qwen OAuth device flow, the credentials file shared with the Qwen
Code CLI, and storing API keys where a settings scope reads them."""

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
from qwen_ls.auth.oauth import (
    DEFAULT_BASE,
    DeviceAuthorization,
    OAuthError,
    QwenOAuth,
    TokenResponse,
)
from qwen_ls.auth.tokens import TokenManager

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
