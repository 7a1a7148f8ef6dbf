"""settings.json: JSONC, merge, interpolation, providers; files are never written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from qwen_ls.config import files as config_files
from qwen_ls.config import settings
from tests.config.helpers import Resolve, files, write

KEY = {"OPENAI_API_KEY": "sk-test-0000"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('{"a": 1}', {"a": 1}, id="plain-json"),
        pytest.param('{\n  // note\n  "a": 1\n}', {"a": 1}, id="line-comment"),
        pytest.param('{/* a\n b */ "a": 1}', {"a": 1}, id="block-comment"),
        pytest.param(
            '{"a": [1, 2,], "b": {"c": 3,},}',
            {"a": [1, 2], "b": {"c": 3}},
            id="trailing-commas",
        ),
        pytest.param(
            '{"u": "http://x//y /* no */"}',
            {"u": "http://x//y /* no */"},
            id="comment-chars-in-string",
        ),
        pytest.param(
            '{"q": "a\\"//b", "c": 1, // x\n}',
            {"q": 'a"//b', "c": 1},
            id="escaped-quote",
        ),
        pytest.param('{"a": 1, // last\n}', {"a": 1}, id="comma-then-comment"),
    ],
)
def test_jsonc_accepted(text: str, expected: Any) -> None:
    assert settings.parse_jsonc(text) == expected


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        pytest.param(
            '{ modelProviders: { "openai": [] } }', 1, 3, id="B19-unquoted-key"
        ),
        pytest.param("{'a': 1}", 1, 2, id="single-quotes"),
        pytest.param('{\n  "a": ,\n}', 2, 8, id="missing-value"),
        pytest.param('{"a": 1 /* open', 1, 9, id="unterminated-comment"),
        pytest.param('{"a": [,]}', 1, 8, id="lone-comma"),
    ],
)
def test_jsonc_rejected_with_line_and_column(text: str, line: int, column: int) -> None:
    with pytest.raises(json.JSONDecodeError) as caught:
        settings.parse_jsonc(text)
    assert (caught.value.lineno, caught.value.colno) == (line, column)


@pytest.mark.parametrize(
    ("user", "workspace", "expected"),
    [
        pytest.param(
            {"a": {"b": 1, "c": 2}},
            {"a": {"c": 3}},
            {"a": {"b": 1, "c": 3}},
            id="objects-by-key",
        ),
        pytest.param({"l": [1, 2]}, {"l": [3]}, {"l": [3]}, id="lists-replaced"),
        pytest.param({"a": {"b": 1}}, {"a": 5}, {"a": 5}, id="scalar-replaces-object"),
        pytest.param(
            {
                "modelProviders": {
                    "openai": [{"id": "u1"}, {"id": "u2"}],
                    "qwen-oauth": [{"id": "q"}],
                }
            },
            {"modelProviders": {"openai": [{"id": "w"}]}},
            {"modelProviders": {"openai": [{"id": "w"}], "qwen-oauth": [{"id": "q"}]}},
            id="provider-list-whole-from-highest-scope",
        ),
        pytest.param(
            {"env": {"A": "u", "B": "u"}},
            {"env": {"B": "w"}},
            {"env": {"A": "u", "B": "w"}},
            id="env-per-key",
        ),
    ],
)
def test_merge(
    user: dict[str, Any], workspace: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert settings.merge(user, workspace) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("$HOSTX/v1", "h/v1", id="bare"),
        pytest.param("${HOSTX}/v1", "h/v1", id="braces"),
        pytest.param("${NOPE}/$NOPE", "${NOPE}/$NOPE", id="unknown-left-as-written"),
        pytest.param(["$HOSTX", {"k": "${HOSTX}"}], ["h", {"k": "h"}], id="nested"),
        pytest.param({"$HOSTX": 1}, {"$HOSTX": 1}, id="keys-not-scanned"),
        pytest.param(3, 3, id="number"),
        pytest.param("a$", "a$", id="lone-dollar"),
    ],
)
def test_interpolate(value: Any, expected: Any) -> None:
    assert settings.interpolate(value, {"HOSTX": "h"}.get) == expected


def test_interpolation_sees_process_then_applied_env_file(
    ws: Path, home: Path, run: Resolve
) -> None:
    files(
        ws,
        home,
        {
            ".qwen/.env": "GW=http://127.0.0.1:1\nPORT=2\nDEBUG=x\n",
            ".env": "IGNORED=1\n",
            "~/.qwen/settings.json": {
                "security": {"auth": {"baseUrl": "${GW}:$PORT/$DEBUG"}},
                "model": {"name": "m-$FROM_PROC"},
                "env": {"FROM_SETTINGS": "s"},
                "x": "$FROM_SETTINGS",
            },
        },
    )
    config = run(ws, environ={**KEY, "FROM_PROC": "p", "GW": "http://127.0.0.1:9"})
    assert config.settings["security"]["auth"]["baseUrl"] == "http://127.0.0.1:9:2/x"
    assert config.model.value == "m-p"
    assert config.settings["x"] == "$FROM_SETTINGS"


def test_interpolation_skips_excluded_variables(
    ws: Path, home: Path, run: Resolve
) -> None:
    files(ws, home, {".env": "DEBUG=yes\n", "~/.qwen/settings.json": {"x": "$DEBUG"}})
    assert run(ws, environ=KEY).settings["x"] == "$DEBUG"


def test_B18_bom_and_crlf_settings(home: Path, run: Resolve) -> None:
    content = (
        b"\xef\xbb\xbf"
        b'{\r\n  "modelProviders": {"openai": [{"id": "m", "envKey": "OPENAI_API_KEY", '
        b'"baseUrl": "http://127.0.0.1:8999/v1"}]}\r\n}\r\n'
    )
    path = write(home / ".qwen" / "settings.json", content)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    config = run(None, environ=KEY, model="m")
    assert config.provider is not None
    assert config.provider.id == "m"
    assert [p.id for p in config.providers["openai"]] == ["m"]
    assert config.base_url is not None
    assert config.base_url.value == "http://127.0.0.1:8999/v1"
    assert config.problems == []
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_B19_invalid_json_reported_never_renamed(home: Path, run: Resolve) -> None:
    path = write(
        home / ".qwen" / "settings.json", '{ modelProviders: { "openai": [] } }'
    )
    listing = sorted(p.name for p in path.parent.iterdir())
    config = run(None, environ=KEY)
    assert config.problems == [
        f"{path}: invalid JSON at line 1 column 3 — settings ignored (Expecting "
        "property "
        "name enclosed in double quotes); the file is left unchanged, fix it and save"
    ]
    assert config.api_key is not None
    assert config.api_key.value.get_secret_value() == "sk-test-0000"
    assert config.settings == {}
    assert sorted(p.name for p in path.parent.iterdir()) == listing
    assert path.read_text() == '{ modelProviders: { "openai": [] } }'


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(
            "[1, 2]",
            "{path}: the top level must be a JSON object {{...}} — settings ignored",
            id="array",
        ),
        pytest.param(
            b'{"a": "\xff"}',
            "{path} line 1: not UTF-8 text — settings ignored; the file is left "
            "unchanged",
            id="not-utf8",
        ),
        pytest.param(
            '{"model": {"name": 5}}',
            "model.name in {path} must be a string; ignored",
            id="wrong-type",
        ),
    ],
)
def test_settings_problems(
    home: Path, run: Resolve, content: str | bytes, problem: str
) -> None:
    path = write(home / ".qwen" / "settings.json", content)
    config = run(None, environ=KEY)
    assert config.problems == [problem.format(path=path)]
    assert config.model.value == "qwen3-coder-plus"


def test_B21_variables_in_provider_base_url(home: Path, run: Resolve) -> None:
    path = write(
        home / ".qwen" / "settings.json",
        {
            "modelProviders": {
                "openai": [
                    {
                        "id": "a",
                        "envKey": "OPENAI_API_KEY",
                        "baseUrl": "${LLM_GATEWAY}/v1",
                    },
                    {"id": "b", "envKey": "OPENAI_API_KEY", "baseUrl": "${NOT_SET}/v1"},
                ]
            }
        },
    )
    environ = {**KEY, "LLM_GATEWAY": "http://127.0.0.1:8999"}
    config = run(None, environ=environ, model="a")
    assert config.base_url is not None
    assert config.base_url.value == "http://127.0.0.1:8999/v1"
    assert (
        config.base_url.source.description
        == f"modelProviders.openai[0].baseUrl in {path}"
    )
    assert [p.id for p in config.providers["openai"]] == ["a"]
    problem = (
        f"unresolved ${{NOT_SET}} in modelProviders.openai[1].baseUrl in {path}; "
        "provider "
        "b disabled: define the variable in the environment or a .env file"
    )
    assert config.problems == [problem]

    chosen_b = run(None, environ=environ, model="b")
    assert chosen_b.base_url is None
    assert chosen_b.provider is None
    assert chosen_b.problems == [
        problem,
        "model b (no workspace folder) belongs to a modelProviders entry that is "
        "disabled "
        "(see the problem above); no request will be sent",
    ]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        pytest.param(
            "${NOPE}/v1", "contains the unresolved variable ${NOPE}", id="unresolved"
        ),
        pytest.param(
            "ftp://host/v1",
            "is not an http(s) URL with a host (e.g. https://api.openai.com/v1)",
            id="scheme",
        ),
        pytest.param(
            "http:///v1",
            "is not an http(s) URL with a host (e.g. https://api.openai.com/v1)",
            id="no-host",
        ),
        pytest.param("http://h:99999/v1", "is not a valid URL", id="bad-port"),
    ],
)
def test_invalid_base_url_from_settings(
    home: Path, run: Resolve, url: str, reason: str
) -> None:
    path = write(
        home / ".qwen" / "settings.json", {"security": {"auth": {"baseUrl": url}}}
    )
    config = run(None, environ=KEY)
    assert config.base_url is None
    assert config.problems == [
        f"the base URL from security.auth.baseUrl in {path} {reason} (no workspace "
        "folder); correct or remove it"
    ]


def test_B23_unreadable_settings(
    ws: Path, home: Path, run: Resolve, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(home / ".qwen" / "settings.json", {"model": {"name": "x"}})
    original = config_files.read_bytes

    def read(target: Path) -> bytes:
        if target == path:
            raise PermissionError(13, "Permission denied")
        return original(target)

    monkeypatch.setattr(config_files, "read_bytes", read)
    config = run(ws, environ=KEY)
    assert config.problems == [
        f"cannot read {path}: permission denied (check owner/permissions)"
    ]
    assert config.api_key is not None
    assert config.model.value == "qwen3-coder-plus"


def test_B23_unreadable_settings_real_permissions(home: Path, run: Resolve) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads mode-000 files; covered by the simulated test above")
    path = write(home / ".qwen" / "settings.json", "{}")
    path.chmod(0)
    try:
        config = run(None, environ=KEY)
    finally:
        path.chmod(0o600)
    assert config.problems == [
        f"cannot read {path}: permission denied (check owner/permissions)"
    ]


def test_B23_missing_settings_are_silent(ws: Path, run: Resolve) -> None:
    config = run(ws, environ=KEY)
    assert config.problems == []
    assert config.settings == {}


def test_workspace_settings_override_user(ws: Path, home: Path, run: Resolve) -> None:
    files(
        ws,
        home,
        {
            "~/.qwen/settings.json": {
                "model": {"name": "user-model"},
                "security": {"auth": {"selectedType": "openai"}},
            },
            ".qwen/settings.json": {"model": {"name": "ws-model"}},
        },
    )
    config = run(ws, environ=KEY)
    assert config.model.value == "ws-model"
    assert (
        config.model.source.description
        == f"model.name in {ws / '.qwen' / 'settings.json'}"
    )
    assert config.model.source.level == "project"
    assert config.auth_type is not None
    assert config.auth_type.source.description == (
        f"security.auth.selectedType in {home / '.qwen' / 'settings.json'}"
    )


def test_B17_custom_env_key_and_keyless_local_server(home: Path, run: Resolve) -> None:
    path = write(
        home / ".qwen" / "settings.json",
        {
            "modelProviders": {
                "openai": [
                    {
                        "id": "gw-model",
                        "name": "Gateway",
                        "envKey": "MYGW_API_KEY",
                        "baseUrl": "http://127.0.0.1:8999/v1",
                    },
                    {
                        "id": "local-qwen",
                        "name": "Local",
                        "envKey": "LOCAL_KEY",
                        "baseUrl": "http://127.0.0.1:8000/v1",
                    },
                    {
                        "id": "oops",
                        "name": "Oops",
                        "envKey": "sk-test-4444",
                        "baseUrl": "http://127.0.0.1:8999/v1",
                    },
                ]
            }
        },
    )
    env = write(home / ".qwen" / ".env", "MYGW_API_KEY=sk-test-0000\n")
    oops = (
        f"modelProviders.openai[2].envKey in {path} must be the name of a variable "
        "(looks like a key was pasted); provider oops disabled: put the key in a .env "
        "file as NAME=<key> and write NAME in envKey"
    )

    gateway = run(None, model="gw-model")
    assert gateway.auth_type is not None and gateway.auth_type.value == "openai"
    assert gateway.api_key is not None
    assert gateway.api_key.value.get_secret_value() == "sk-test-0000"
    assert gateway.api_key.source.description == f"MYGW_API_KEY in {env}"
    assert gateway.api_key_var == "MYGW_API_KEY"
    assert gateway.problems == [oops]

    local = run(None, model="local-qwen")
    assert local.auth_type is not None and local.auth_type.value == "openai"
    assert local.api_key is None
    assert (
        local.base_url is not None
        and local.base_url.value == "http://127.0.0.1:8000/v1"
    )
    assert local.api_key_var == "LOCAL_KEY"
    assert local.problems == [oops]

    pasted = run(None, model="oops", auth_type="openai")
    assert pasted.base_url is None
    assert pasted.api_key is None
    assert [p.id for p in pasted.providers["openai"]] == ["gw-model", "local-qwen"]
    assert "4444" not in repr(pasted) + " ".join(pasted.problems)


def test_B17_remote_provider_without_key_names_its_variable(
    home: Path, run: Resolve
) -> None:
    write(
        home / ".qwen" / "settings.json",
        {
            "modelProviders": {
                "openai": [
                    {"id": "r", "envKey": "R_KEY", "baseUrl": "https://r.test/v1"}
                ]
            }
        },
    )
    config = run(None, model="r", auth_type="openai")
    assert config.api_key is None
    assert config.problems == [
        f"R_KEY not set (no workspace folder): add R_KEY=<your key> to "
        f"{home / '.qwen' / '.env'} or set qwen.openaiApiKey in the editor"
    ]


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        pytest.param(
            {"name": "x"},
            "modelProviders.openai[0].id in {path} is missing or not a string; entry "
            "ignored",
            id="no-id",
        ),
        pytest.param(
            "x",
            "modelProviders.openai[0] in {path} must be an object; ignored",
            id="not-object",
        ),
        pytest.param(
            {"id": "x", "envKey": "MY KEY"},
            "modelProviders.openai[0].envKey in {path} must be the name of a variable "
            "(looks like a key was pasted); provider x disabled: put the key in a .env "
            "file as NAME=<key> and write NAME in envKey",
            id="envkey-with-space",
        ),
        pytest.param(
            {"id": "x", "baseUrl": 3},
            "modelProviders.openai[0].baseUrl in {path} must be a string; provider "
            "disabled",
            id="baseurl-type",
        ),
    ],
)
def test_provider_entry_problems(
    home: Path, run: Resolve, entry: Any, problem: str
) -> None:
    path = write(
        home / ".qwen" / "settings.json", {"modelProviders": {"openai": [entry]}}
    )
    config = run(None, environ=KEY)
    assert config.providers["openai"] == []
    assert problem.format(path=path) in config.problems


def test_provider_fields(home: Path, run: Resolve) -> None:
    path = write(
        home / ".qwen" / "settings.json",
        {
            "modelProviders": {
                "openai": [
                    {"id": "p", "description": "d", "generationConfig": {"timeout": 5}},
                    {"id": "q", "name": "Q"},
                ],
                "qwen-oauth": [{"id": "coder-model"}],
            }
        },
    )
    config = run(None, environ=KEY, model="p")
    first = config.providers["openai"][0]
    assert (first.id, first.name, first.description, first.env_key) == (
        "p",
        "p",
        "d",
        None,
    )
    assert first.generation_config == {"timeout": 5}
    assert first.source.description == f"modelProviders.openai[0] in {path}"
    assert config.providers["openai"][1].name == "Q"
    assert config.providers["qwen-oauth"][0].auth_type == "qwen-oauth"
    assert config.provider == first
    assert (
        config.base_url is not None and config.base_url.source.description == "default"
    )


@pytest.mark.parametrize(
    ("depth", "words"),
    [(100_000, "nested too deeply to read"), (200, "nested more than 64 levels deep")],
)
def test_deeply_nested_settings_are_reported_not_fatal(
    home: Path, run: Resolve, depth: int, words: str
) -> None:
    path = home / ".qwen" / "settings.json"
    write(path, '{"a":' * depth + "1" + "}" * depth)
    config = run(None, environ={"OPENAI_API_KEY": "sk-test-0000"})
    assert any(words in p and str(path) in p for p in config.problems)
    assert config.auth_type is not None and config.auth_type.value == "openai"


@pytest.mark.parametrize(
    "reference", ["$QWEN_TEST_UNSET_KEY", "${QWEN_TEST_UNSET_KEY}"]
)
def test_unresolved_variable_as_the_key_is_not_sent(
    home: Path, run: Resolve, reference: str
) -> None:
    path = home / ".qwen" / "settings.json"
    write(path, json.dumps({"security": {"auth": {"apiKey": reference}}}))
    config = run(None, environ={"OPENAI_BASE_URL": "https://api.example.test/v1"})
    assert config.api_key is None
    assert any(
        reference in p and "not set; the key is not used" in p for p in config.problems
    )
