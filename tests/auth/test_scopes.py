"""Storing and forgetting credentials per scope: which lines and keys change, what
survives (comments, other keys, other providers), and what is described."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from qwen_ls.auth import CODING_PLAN_BASE_URL, CODING_PLAN_MODELS
from qwen_ls.auth.scopes import (
    Scope,
    coding_plan_providers,
    forget_keys,
    select_auth_type,
    store_coding_plan_key,
    store_openai_key,
)
from qwen_ls.config.settings import parse_jsonc

KEY = "sk-test-0000abcdef"
PLAN_KEY = "sk-sp-test-0000abcd"
MINE = {"id": "my-model", "baseUrl": "http://127.0.0.1:8000/v1", "envKey": "MY_KEY"}


@pytest.fixture
def scope(tmp_path: Path) -> Scope:
    folder = tmp_path / "project"
    folder.mkdir()
    return Scope.workspace(folder)


def settings(scope: Scope) -> Any:
    return parse_jsonc(scope.settings_file.read_text())


def write_settings(scope: Scope, text: str) -> None:
    scope.settings_file.parent.mkdir(parents=True, exist_ok=True)
    scope.settings_file.write_text(text)


def test_scopes_name_their_files(tmp_path: Path) -> None:
    user = Scope.user(tmp_path)
    assert (user.env_file, user.settings_file, user.folder) == (
        tmp_path / ".qwen" / ".env",
        tmp_path / ".qwen" / "settings.json",
        None,
    )
    workspace = Scope.workspace(tmp_path / "w")
    assert workspace.env_file == tmp_path / "w" / ".qwen" / ".env"
    assert workspace.folder == tmp_path / "w"


def test_openai_key_goes_to_env_and_selects_openai(scope: Scope) -> None:
    messages = store_openai_key(scope, KEY, base_url=None, model=None)
    assert scope.env_file.read_text() == f"OPENAI_API_KEY={KEY}\n"
    assert stat.S_IMODE(os.stat(scope.env_file).st_mode) == 0o600
    assert settings(scope) == {"security": {"auth": {"selectedType": "openai"}}}
    assert messages == [
        f"Saved OPENAI_API_KEY in {scope.env_file}.",
        f"Set security.auth.selectedType to openai in {scope.settings_file}.",
    ]
    assert store_openai_key(scope, KEY, base_url=None, model=None) == [
        f"Saved OPENAI_API_KEY in {scope.env_file}."
    ], "selected already"


def test_openai_model_goes_to_model_name_keeping_comments(scope: Scope) -> None:
    write_settings(scope, '{\n  // the team theme\n  "ui": {"theme": "dark"},\n}\n')
    store_openai_key(scope, KEY, base_url="https://x.test/v1", model="m1")
    text = scope.settings_file.read_text()
    assert "// the team theme" in text
    assert settings(scope)["model"] == {"name": "m1"}
    assert "OPENAI_BASE_URL=https://x.test/v1\n" in scope.env_file.read_text()


def test_coding_plan_puts_its_models_first_and_keeps_others(scope: Scope) -> None:
    old_plan = coding_plan_providers(CODING_PLAN_BASE_URL, "glm-5")[:2]
    write_settings(
        scope,
        json.dumps({"modelProviders": {"openai": [*old_plan, MINE]}, "x": 1}),
    )
    messages = store_coding_plan_key(scope, PLAN_KEY, base_url=None, model=None)

    data = settings(scope)
    entries = data["modelProviders"]["openai"]
    assert [e["id"] for e in entries] == [
        "qwen3-coder-plus",
        *(m for m in CODING_PLAN_MODELS if m != "qwen3-coder-plus"),
        "my-model",
    ], "older Coding Plan entries replaced, the user's kept after"
    assert all(e["baseUrl"] == CODING_PLAN_BASE_URL for e in entries[:-1])
    assert all(e["envKey"] == "BAILIAN_CODING_PLAN_API_KEY" for e in entries[:-1])
    assert data["model"]["name"] == "qwen3-coder-plus"
    assert data["security"]["auth"]["selectedType"] == "openai"
    assert data["x"] == 1
    assert scope.env_file.read_text() == f"BAILIAN_CODING_PLAN_API_KEY={PLAN_KEY}\n"
    assert any(CODING_PLAN_BASE_URL in m for m in messages)
    assert PLAN_KEY not in " ".join(messages)


def test_coding_plan_with_own_url_and_model(scope: Scope) -> None:
    store_coding_plan_key(
        scope, PLAN_KEY, base_url="http://127.0.0.1:9/v1", model="glm-5"
    )
    entries = settings(scope)["modelProviders"]["openai"]
    assert entries[0]["id"] == "glm-5"
    assert {e["baseUrl"] for e in entries} == {"http://127.0.0.1:9/v1"}
    assert len(entries) == len(CODING_PLAN_MODELS)


@pytest.mark.parametrize(
    ("others", "model", "expect_providers", "expect_model"),
    [
        pytest.param([], None, None, None, id="list-removed-model-reset"),
        pytest.param([MINE], None, [MINE], None, id="others-kept"),
        pytest.param([], "gpt-x", None, "gpt-x", id="model-given"),
    ],
)
def test_openai_key_replaces_a_coding_plan(
    scope: Scope,
    others: list[dict[str, str]],
    model: str | None,
    expect_providers: Any,
    expect_model: str | None,
) -> None:
    store_coding_plan_key(scope, PLAN_KEY, base_url=None, model=None)
    if others:
        data = settings(scope)
        data["modelProviders"]["openai"].extend(others)
        write_settings(scope, json.dumps(data))

    store_openai_key(scope, KEY, base_url=None, model=model)

    data = settings(scope)
    assert data.get("modelProviders", {}).get("openai") == expect_providers
    assert data.get("model", {}).get("name") == expect_model
    assert data["security"]["auth"]["selectedType"] == "openai"
    assert f"BAILIAN_CODING_PLAN_API_KEY={PLAN_KEY}" in scope.env_file.read_text()


def test_select_auth_type(scope: Scope) -> None:
    message = select_auth_type(scope, "qwen-oauth")
    assert settings(scope) == {"security": {"auth": {"selectedType": "qwen-oauth"}}}
    assert str(scope.settings_file) in message


def test_forget_keys_removes_every_key_of_the_scope_and_nothing_else(
    scope: Scope,
) -> None:
    scope.env_file.parent.mkdir(parents=True)
    scope.env_file.write_text(
        "# keys\nOPENAI_API_KEY=a1b2c3\nOPENAI_BASE_URL=https://x.test/v1\n"
        "BAILIAN_CODING_PLAN_API_KEY=sk-sp-1\nMY_KEY=k\nTEAM_KEY=t\nOTHER=1\n"
    )
    write_settings(
        scope,
        json.dumps(
            {
                "modelProviders": {"openai": [MINE]},
                "env": {"MY_KEY": "k2", "PATH_HINT": "p"},
                "security": {"auth": {"apiKey": "s", "selectedType": "openai"}},
            }
        ),
    )
    removed = forget_keys(scope, also=["TEAM_KEY"])

    assert removed == [
        f"OPENAI_API_KEY in {scope.env_file}",
        f"BAILIAN_CODING_PLAN_API_KEY in {scope.env_file}",
        f"MY_KEY in {scope.env_file}",
        f"TEAM_KEY in {scope.env_file}",
        f"env.MY_KEY in {scope.settings_file}",
        f"security.auth.apiKey in {scope.settings_file}",
    ]
    assert scope.env_file.read_text() == (
        "# keys\nOPENAI_BASE_URL=https://x.test/v1\nOTHER=1\n"
    )
    data = settings(scope)
    assert data["env"] == {"PATH_HINT": "p"}
    assert data["security"]["auth"] == {"selectedType": "openai"}


def test_forget_keys_without_files(scope: Scope) -> None:
    assert forget_keys(scope) == []
    assert not scope.env_file.exists() and not scope.settings_file.exists()
