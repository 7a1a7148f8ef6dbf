"""Section 5: auth type, model, base URL and key, each with its source; editor settings;
masking; secrets never shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from qwen_ls.config import EditorSettings, ResolvedConfig, mask_secret
from tests.config.helpers import Resolve, files, write

USER = "~/.qwen/settings.json"
PROVIDERS = {
    "modelProviders": {
        "openai": [
            {"id": "p1", "envKey": "P1_KEY", "baseUrl": "https://p1.test/v1"},
            {"id": "local", "baseUrl": "http://localhost:8000/v1"},
        ]
    }
}


def sourced(config: ResolvedConfig, field: str) -> tuple[Any, str] | None:
    item = getattr(config, field)
    if item is None:
        return None
    value = item.value
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value, item.source.description


Row = tuple[dict[str, Any], dict[str, str], dict[str, str], tuple[str, str] | None]


def check(ws: Path, home: Path, run: Resolve, field: str, row: Row) -> ResolvedConfig:
    layout, environ, editor, expected = row
    files(ws, home, layout)
    config = run(ws, environ=environ, **editor)
    if expected is not None:
        expected = (expected[0], expected[1].format(ws=ws, home=home))
    assert sourced(config, field) == expected
    return config


SETTINGS = "{home}/.qwen/settings.json"
KEY = {"OPENAI_API_KEY": "sk-test-0000"}

AUTH_ROWS = [
    pytest.param(
        (
            {},
            KEY,
            {"auth_type": "qwen-oauth"},
            ("qwen-oauth", "initializationOptions qwen.authType"),
        ),
        id="editor",
    ),
    pytest.param(
        (
            {USER: {"security": {"auth": {"selectedType": "qwen-oauth"}}}},
            KEY,
            {},
            ("qwen-oauth", f"security.auth.selectedType in {SETTINGS}"),
        ),
        id="settings-selected-type",
    ),
    pytest.param(
        (
            {USER: {"security": {"auth": {"selectedType": "qwen-oauth"}}}},
            {},
            {"auth_type": "openai"},
            ("openai", "initializationOptions qwen.authType"),
        ),
        id="editor-beats-settings",
    ),
    pytest.param(
        (
            {},
            KEY,
            {},
            ("openai", "an API key was found (process environment OPENAI_API_KEY)"),
        ),
        id="key-found-means-openai",
    ),
    pytest.param(
        (
            {USER: PROVIDERS, "~/.qwen/.env": "P1_KEY=sk-test-0001\n"},
            {},
            {"model": "p1"},
            ("openai", "an API key was found (P1_KEY in {home}/.qwen/.env)"),
        ),
        id="provider-key-means-openai",
    ),
    pytest.param(
        (
            {USER: {"security": {"auth": {"apiKey": "sk-test-0002"}}}},
            {},
            {},
            ("openai", f"an API key was found (security.auth.apiKey in {SETTINGS})"),
        ),
        id="settings-key-means-openai",
    ),
    pytest.param(
        (
            {USER: PROVIDERS},
            {},
            {"model": "local"},
            (
                "openai",
                f"modelProviders.openai[1].baseUrl in {SETTINGS} points at a local server",
            ),
        ),
        id="keyless-local-provider-means-openai",
    ),
    pytest.param(
        (
            {},
            {"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"},
            {},
            (
                "openai",
                "process environment OPENAI_BASE_URL points at a local server",
            ),
        ),
        id="keyless-local-base-url-means-openai",
    ),
    pytest.param(
        ({}, {"OPENAI_BASE_URL": "https://api.example.test/v1"}, {}, None),
        id="keyless-remote-base-url-is-not-enough",
    ),
    pytest.param(
        (
            {"~/.qwen/oauth_creds.json": {"access_token": "x"}},
            {},
            {},
            ("qwen-oauth", "Qwen OAuth credentials in {home}/.qwen/oauth_creds.json"),
        ),
        id="oauth-creds",
    ),
    pytest.param(
        (
            {"~/.qwen/oauth_creds.json": {"access_token": "x"}},
            KEY,
            {},
            ("openai", "an API key was found (process environment OPENAI_API_KEY)"),
        ),
        id="key-beats-oauth-creds",
    ),
    pytest.param(({}, {}, {}, None), id="nothing"),
]


@pytest.mark.parametrize("row", AUTH_ROWS)
def test_auth_type(ws: Path, home: Path, run: Resolve, row: Row) -> None:
    check(ws, home, run, "auth_type", row)


def test_auth_type_none_says_how_to_sign_in(ws: Path, home: Path, run: Resolve) -> None:
    config = run(ws)
    assert config.auth_type is None
    assert config.problems == [
        f"OPENAI_API_KEY not set (workspace {ws}): add OPENAI_API_KEY=<your key> to "
        f"{ws}/.qwen/.env or {home}/.qwen/.env, or set qwen.openaiApiKey in the "
        "editor; "
        "or sign in with Qwen OAuth (the qwen.auth command, method qwen-oauth)"
    ]


def test_unsupported_auth_type_falls_through(
    ws: Path, home: Path, run: Resolve
) -> None:
    write(
        home / ".qwen" / "settings.json",
        {"security": {"auth": {"selectedType": "gemini"}}},
    )
    config = run(ws, environ=KEY)
    assert sourced(config, "auth_type") == (
        "openai",
        "an API key was found (process environment OPENAI_API_KEY)",
    )
    assert config.problems == [
        "auth type 'gemini' from security.auth.selectedType in "
        f"{home}/.qwen/settings.json "
        "is not supported by qwen-ls (use openai or qwen-oauth); ignored"
    ]


def test_qwen_oauth_selected_without_credentials(ws: Path, run: Resolve) -> None:
    config = run(ws, auth_type="qwen-oauth")
    assert config.model.value == "coder-model"
    assert config.base_url is None and config.api_key is None
    assert config.problems == [
        "Qwen OAuth is selected (initializationOptions qwen.authType) but not signed "
        "in "
        f"(workspace {ws}): run the qwen.auth command with method qwen-oauth"
    ]


MODEL_ROWS = [
    pytest.param(
        (
            {USER: {"model": {"name": "settings-m"}}},
            {**KEY, "OPENAI_MODEL": "env-m"},
            {"model": "editor-m"},
            ("editor-m", "initializationOptions qwen.model"),
        ),
        id="editor",
    ),
    pytest.param(
        (
            {USER: {"model": {"name": "settings-m"}}},
            {**KEY, "OPENAI_MODEL": "env-m"},
            {},
            ("settings-m", f"model.name in {SETTINGS}"),
        ),
        id="model-name",
    ),
    pytest.param(
        (
            {".qwen/.env": "QWEN_MODEL=qwen-m\n"},
            {**KEY, "OPENAI_MODEL": "env-m"},
            {},
            ("env-m", "process environment OPENAI_MODEL"),
        ),
        id="openai-model-beats-qwen-model",
    ),
    pytest.param(
        (
            {".qwen/.env": "QWEN_MODEL=qwen-m\n"},
            KEY,
            {},
            ("qwen-m", "QWEN_MODEL in {ws}/.qwen/.env"),
        ),
        id="qwen-model",
    ),
    pytest.param(({}, KEY, {}, ("qwen3-coder-plus", "default")), id="default-openai"),
    pytest.param(
        ({}, {}, {"auth_type": "qwen-oauth"}, ("coder-model", "default")),
        id="default-qwen-oauth",
    ),
    pytest.param(
        ({}, {}, {}, ("qwen3-coder-plus", "default")), id="default-without-auth-type"
    ),
    pytest.param(
        (
            {USER: {"model": {"name": ""}}},
            {**KEY, "OPENAI_MODEL": ""},
            {"model": ""},
            ("qwen3-coder-plus", "default"),
        ),
        id="empty-values-unset",
    ),
]


@pytest.mark.parametrize("row", MODEL_ROWS)
def test_model(ws: Path, home: Path, run: Resolve, row: Row) -> None:
    check(ws, home, run, "model", row)


BASE_URL_ROWS = [
    pytest.param(
        (
            {
                USER: {
                    **PROVIDERS,
                    "security": {"auth": {"baseUrl": "https://s.test/v1"}},
                }
            },
            {"P1_KEY": "k" * 20, "OPENAI_BASE_URL": "https://e.test/v1"},
            {"model": "p1", "openai_base_url": "https://ed.test/v1"},
            ("https://ed.test/v1", "initializationOptions qwen.openaiBaseUrl"),
        ),
        id="editor",
    ),
    pytest.param(
        (
            {
                USER: {
                    **PROVIDERS,
                    "security": {"auth": {"baseUrl": "https://s.test/v1"}},
                }
            },
            {"P1_KEY": "k" * 20, "OPENAI_BASE_URL": "https://e.test/v1"},
            {"model": "p1"},
            ("https://p1.test/v1", f"modelProviders.openai[0].baseUrl in {SETTINGS}"),
        ),
        id="provider",
    ),
    pytest.param(
        (
            {
                USER: {
                    **PROVIDERS,
                    "security": {"auth": {"baseUrl": "https://s.test/v1"}},
                }
            },
            {**KEY, "OPENAI_BASE_URL": "https://e.test/v1"},
            {},
            ("https://e.test/v1", "process environment OPENAI_BASE_URL"),
        ),
        id="openai-base-url",
    ),
    pytest.param(
        (
            {USER: {"security": {"auth": {"baseUrl": "https://s.test/v1"}}}},
            KEY,
            {},
            ("https://s.test/v1", f"security.auth.baseUrl in {SETTINGS}"),
        ),
        id="settings-base-url",
    ),
    pytest.param(({}, KEY, {}, ("https://api.openai.com/v1", "default")), id="default"),
    pytest.param(
        (
            {},
            KEY,
            {"auth_type": "qwen-oauth", "openai_base_url": "https://x.test"},
            None,
        ),
        id="not-for-qwen-oauth",
    ),
]


@pytest.mark.parametrize("row", BASE_URL_ROWS)
def test_base_url(ws: Path, home: Path, run: Resolve, row: Row) -> None:
    check(ws, home, run, "base_url", row)


@pytest.mark.parametrize(
    "url",
    ["not a url", "ftp://h/v1", "sk-SECRET0000", "https://", "http://u:SECRET0000@/x"],
)
def test_invalid_base_url_is_a_problem_without_the_value(
    ws: Path, run: Resolve, url: str
) -> None:
    config = run(ws, environ={**KEY, "OPENAI_BASE_URL": url})
    assert config.base_url is None
    assert config.problems == [
        "the base URL from process environment OPENAI_BASE_URL is not an http(s) URL "
        f"with a host (e.g. https://api.openai.com/v1) (workspace {ws}); correct or "
        "remove it"
    ]


KEY_ROWS = [
    pytest.param(
        (
            {USER: {**PROVIDERS, "security": {"auth": {"apiKey": "sk-settings-00"}}}},
            {"P1_KEY": "sk-p1-0000", "OPENAI_API_KEY": "sk-openai-00"},
            {"model": "p1", "openai_api_key": "sk-editor-00"},
            ("sk-editor-00", "initializationOptions qwen.openaiApiKey"),
        ),
        id="editor",
    ),
    pytest.param(
        (
            {USER: {**PROVIDERS, "security": {"auth": {"apiKey": "sk-settings-00"}}}},
            {"P1_KEY": "sk-p1-0000", "OPENAI_API_KEY": "sk-openai-00"},
            {"model": "p1"},
            ("sk-p1-0000", "process environment P1_KEY"),
        ),
        id="provider-env-key",
    ),
    pytest.param(
        (
            {USER: {**PROVIDERS, "env": {"P1_KEY": "sk-p1-settings"}}},
            {"OPENAI_API_KEY": "sk-openai-00"},
            {"model": "p1"},
            ("sk-p1-settings", f"env.P1_KEY in {SETTINGS}"),
        ),
        id="provider-env-key-same-layering",
    ),
    pytest.param(
        (
            {USER: PROVIDERS},
            {"P1_KEY": "", "OPENAI_API_KEY": "sk-openai-00"},
            {"model": "p1"},
            ("sk-openai-00", "process environment OPENAI_API_KEY"),
        ),
        id="provider-falls-back-to-openai-api-key",
    ),
    pytest.param(
        (
            {
                USER: {"security": {"auth": {"apiKey": "sk-settings-00"}}},
                ".qwen/.env": "OPENAI_API_KEY=sk-file-0000\n",
            },
            {},
            {},
            ("sk-file-0000", "OPENAI_API_KEY in {ws}/.qwen/.env"),
        ),
        id="openai-api-key-beats-settings",
    ),
    pytest.param(
        (
            {USER: {"security": {"auth": {"apiKey": "sk-settings-00"}}}},
            {"OPENAI_API_KEY": ""},
            {"openai_api_key": ""},
            ("sk-settings-00", f"security.auth.apiKey in {SETTINGS}"),
        ),
        id="settings-api-key",
    ),
]


@pytest.mark.parametrize("row", KEY_ROWS)
def test_api_key(ws: Path, home: Path, run: Resolve, row: Row) -> None:
    config = check(ws, home, run, "api_key", row)
    assert config.problems == []


def test_api_key_var_names_the_provider_variable(home: Path, run: Resolve) -> None:
    write(home / ".qwen" / "settings.json", PROVIDERS)
    assert run(None, model="p1", auth_type="openai").api_key_var == "P1_KEY"
    assert run(None, model="other", auth_type="openai").api_key_var == "OPENAI_API_KEY"


def test_missing_key_for_remote_url(ws: Path, home: Path, run: Resolve) -> None:
    config = run(ws, auth_type="openai")
    assert config.api_key is None
    assert config.problems == [
        f"OPENAI_API_KEY not set (workspace {ws}): add OPENAI_API_KEY=<your key> to "
        f"{ws}/.qwen/.env or {home}/.qwen/.env, or set qwen.openaiApiKey in the editor"
    ]


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/v1", "http://localhost:11434", "http://[::1]:8080/v1"],
)
def test_B17_loopback_needs_no_key(ws: Path, run: Resolve, url: str) -> None:
    config = run(ws, auth_type="openai", openai_base_url=url)
    assert config.api_key is None
    assert config.base_url is not None and config.base_url.value == url
    assert config.problems == []


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        pytest.param("sk-test-0000", "sk-…0000", id="twelve-chars"),
        pytest.param("sk-sp-abcdefghijklmnop1234", "sk-…1234", id="long"),
        pytest.param("sk-test-000", "…", id="eleven-chars-hidden"),
        pytest.param("", "…", id="empty"),
    ],
)
def test_mask_secret(value: str, masked: str) -> None:
    assert mask_secret(value) == masked


def test_masked_api_key(ws: Path, run: Resolve) -> None:
    assert run(ws, environ=KEY).masked_api_key() == "sk-…0000"
    assert run(ws).masked_api_key() is None


@pytest.mark.parametrize(
    ("sent", "expected", "problems"),
    [
        pytest.param(None, {}, [], id="none"),
        pytest.param({"model": "m"}, {"model": "m"}, [], id="flat"),
        pytest.param(
            {"qwen": {"authType": "openai"}}, {"auth_type": "openai"}, [], id="nested"
        ),
        pytest.param({"qwen": None}, {}, [], id="nested-null"),
        pytest.param(
            {"openaiBaseUrl": "http://h", "openaiApiKey": "k", "other": 1},
            {"openai_base_url": "http://h", "openai_api_key": "k"},
            [],
            id="aliases-unknown-ignored",
        ),
        pytest.param({"model": "", "authType": "  "}, {}, [], id="empty-is-unset"),
        pytest.param(
            {"model": 5, "openaiApiKey": ["SECRET0000"]},
            {},
            [
                "editor setting qwen.model must be a string, got int; ignored",
                "editor setting qwen.openaiApiKey must be a string, got list; ignored",
            ],
            id="wrong-types",
        ),
        pytest.param(
            ["x"],
            {},
            ["editor settings qwen must be an object, got list; ignored"],
            id="not-object",
        ),
    ],
)
def test_editor_settings_from_lsp(
    sent: Any, expected: dict[str, str], problems: list[str]
) -> None:
    settings, found = EditorSettings.from_lsp(sent)
    assert settings.model_dump(exclude_none=True) == expected
    assert found == problems


SECRETS = [
    "SECRET0000",
    "SECRET1111",
    "SECRET2222",
    "SECRET3333",
    "SECRET4444",
    "SECRET5555",
]


def test_secrets_never_shown(ws: Path, home: Path, run: Resolve) -> None:
    files(
        ws,
        home,
        {
            ".qwen/.env": (
                "OPENAI_API_KEY=sk-test-SECRET0000\nsk-SECRET1111\n=SECRET2222\n"
                "OPENAI_API_KEY=sk-test-SECRET0000\nX=${UNDEFINED_NAME}\n"
            ),
            USER: {
                "modelProviders": {
                    "openai": [
                        {
                            "id": "p",
                            "envKey": "sk-SECRET4444",
                            "baseUrl": "https://h/v1",
                        }
                    ]
                },
                "security": {"auth": {"apiKey": "sk-SECRET5555"}},
            },
        },
    )
    editor = EditorSettings(openai_api_key="sk-test-SECRET0000", model="p")
    config = run(ws, environ={"OPENAI_BASE_URL": "SECRET3333"}, model="p")
    shown = [
        repr(config),
        str(config),
        repr(editor),
        config.model_dump_json(),
        *config.problems,
        *(
            s.source.description
            for s in (config.auth_type, config.model, config.api_key)
            if s
        ),
        config.masked_api_key() or "",
    ]
    assert config.problems, "the layout above must produce problems to check"
    for secret in SECRETS:
        assert not any(secret in text for text in shown), secret
    assert config.masked_api_key() == "sk-…0000"


SELECTION = {
    "modelProviders": {
        "openai": [
            {"id": "qwen3-coder-plus", "baseUrl": "https://cp.test/v1", "envKey": "CP"},
            {"id": "shared", "baseUrl": "https://openai-shared.test/v1"},
        ],
        "qwen-oauth": [{"id": "shared"}, {"id": "coder-model", "name": "Coder"}],
    }
}


@pytest.mark.parametrize(
    ("editor", "provider"),
    [
        pytest.param(
            {"auth_type": "openai"},
            ("openai", "qwen3-coder-plus"),
            id="default-model-matches",
        ),
        pytest.param(
            {"auth_type": "openai", "model": "shared"},
            ("openai", "shared"),
            id="openai-entry",
        ),
        pytest.param(
            {"auth_type": "qwen-oauth", "model": "shared"},
            ("qwen-oauth", "shared"),
            id="same-id-other-auth-type",
        ),
        pytest.param(
            {"auth_type": "qwen-oauth"},
            ("qwen-oauth", "coder-model"),
            id="qwen-oauth-default",
        ),
        pytest.param({"auth_type": "openai", "model": "unknown"}, None, id="no-entry"),
    ],
)
def test_provider_selection(
    home: Path, run: Resolve, editor: dict[str, str], provider: tuple[str, str] | None
) -> None:
    write(home / ".qwen" / "settings.json", SELECTION)
    config = run(None, environ={"CP": "sk-test-cp00", **KEY}, **editor)
    found = (config.provider.auth_type, config.provider.id) if config.provider else None
    assert found == provider
    if provider == ("openai", "qwen3-coder-plus"):
        assert sourced(config, "api_key") == ("sk-test-cp00", "process environment CP")
        assert (
            config.base_url is not None
            and config.base_url.value == "https://cp.test/v1"
        )
