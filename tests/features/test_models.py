"""The model list (sources, merging, the endpoint's list and its cache) and choosing a
model (the question, where the choice is written, what outranks it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qwen_ls.auth.apikey import CODING_PLAN_BASE_URL, CODING_PLAN_MODELS
from qwen_ls.config.edit import set_setting
from qwen_ls.features import models
from qwen_ls.features.models import ModelEntry
from qwen_ls.llm import ConfigError, NetworkError
from tests.config.helpers import Resolve, files, write

KEY = {"OPENAI_API_KEY": "sk-test-0000"}
USER = "~/.qwen/settings.json"
WS = ".qwen/settings.json"


def entry(
    id: str,
    source: str,
    *,
    name: str | None = None,
    auth: str = "openai",
    base: str | None = None,
    current: bool = False,
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": id,
        "name": name or id,
        "authType": auth,
        "source": source,
    }
    if base is not None:
        found["baseUrl"] = base
    found["current"] = current
    return found


CODING_PLAN = [
    entry(
        m,
        "Coding Plan",
        base=CODING_PLAN_BASE_URL,
        current=m == "qwen3-coder-plus",
    )
    for m in CODING_PLAN_MODELS
]


@pytest.mark.parametrize(
    ("layout", "environ", "editor", "signed_in", "expected"),
    [
        pytest.param(
            {
                USER: {
                    "model": {"name": "a"},
                    "modelProviders": {
                        "openai": [
                            {
                                "id": "a",
                                "name": "Model A",
                                "envKey": "A_KEY",
                                "baseUrl": "https://a.test/v1",
                            },
                            {"id": "b"},
                        ]
                    },
                }
            },
            {"A_KEY": "sk-test-000A"},
            {},
            False,
            [
                entry(
                    "a",
                    "modelProviders in {user}",
                    name="Model A",
                    base="https://a.test/v1",
                    current=True,
                ),
                entry("b", "modelProviders in {user}"),
            ],
            id="user-providers-current-merged",
        ),
        pytest.param(
            {
                USER: {"modelProviders": {"openai": [{"id": "u"}]}},
                WS: {"modelProviders": {"openai": [{"id": "w", "name": "W"}]}},
            },
            KEY,
            {},
            False,
            [
                entry("w", "modelProviders in {ws}", name="W"),
                entry(
                    "qwen3-coder-plus",
                    "current",
                    base="https://api.openai.com/v1",
                    current=True,
                ),
            ],
            id="workspace-list-replaces-user-list",
        ),
        pytest.param(
            {
                USER: {
                    "modelProviders": {
                        "qwen-oauth": [{"id": "x"}],
                        "openai": [{"id": "a"}],
                    }
                }
            },
            KEY,
            {"model": "a"},
            False,
            [entry("a", "modelProviders in {user}", base=None, current=True)],
            id="only-the-active-auth-type",
        ),
        pytest.param(
            {"~/.qwen/oauth_creds.json": {"access_token": "x"}},
            {},
            {},
            True,
            [
                entry(
                    "coder-model",
                    "Qwen OAuth",
                    name="Qwen Coder",
                    auth="qwen-oauth",
                    current=True,
                )
            ],
            id="qwen-oauth-signed-in",
        ),
        pytest.param(
            {USER: {"security": {"auth": {"selectedType": "qwen-oauth"}}}},
            {},
            {},
            False,
            [entry("coder-model", "current", auth="qwen-oauth", current=True)],
            id="qwen-oauth-not-signed-in",
        ),
        pytest.param(
            {},
            {
                "OPENAI_API_KEY": "sk-sp-test-0000",
                "OPENAI_BASE_URL": CODING_PLAN_BASE_URL,
            },
            {},
            False,
            CODING_PLAN,
            id="coding-plan",
        ),
        pytest.param(
            {
                USER: {
                    "modelProviders": {
                        "openai": [
                            {
                                "id": "qwen3-coder-plus",
                                "envKey": "BAILIAN_CODING_PLAN_API_KEY",
                                "baseUrl": CODING_PLAN_BASE_URL,
                            }
                        ]
                    }
                }
            },
            {"BAILIAN_CODING_PLAN_API_KEY": "sk-sp-test-0000"},
            {},
            False,
            [
                entry(
                    "qwen3-coder-plus",
                    "modelProviders in {user}",
                    base=CODING_PLAN_BASE_URL,
                    current=True,
                )
            ],
            id="coding-plan-entries-from-settings-only",
        ),
        pytest.param(
            {
                USER: {
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
                "~/.qwen/.env": "MYGW_API_KEY=sk-test-0000\n",
            },
            {},
            {"model": "gw-model"},
            False,
            [
                entry(
                    "gw-model",
                    "modelProviders in {user}",
                    name="Gateway",
                    base="http://127.0.0.1:8999/v1",
                    current=True,
                ),
                entry(
                    "local-qwen",
                    "modelProviders in {user}",
                    name="Local",
                    base="http://127.0.0.1:8000/v1",
                ),
            ],
            id="B17-pasted-key-entry-not-listed",
        ),
        pytest.param(
            {
                USER: {
                    "modelProviders": {
                        "openai": [
                            {
                                "id": "a",
                                "envKey": "OPENAI_API_KEY",
                                "baseUrl": "${LLM_GATEWAY}/v1",
                            },
                            {
                                "id": "b",
                                "envKey": "OPENAI_API_KEY",
                                "baseUrl": "${NOT_SET}/v1",
                            },
                        ]
                    }
                }
            },
            {**KEY, "LLM_GATEWAY": "http://127.0.0.1:8999"},
            {"model": "a"},
            False,
            [
                entry(
                    "a",
                    "modelProviders in {user}",
                    base="http://127.0.0.1:8999/v1",
                    current=True,
                )
            ],
            id="B21-expanded-url-listed-unresolved-not",
        ),
    ],
)
async def test_list_sources(
    ws: Path,
    home: Path,
    run: Resolve,
    layout: dict[str, Any],
    environ: dict[str, str],
    editor: dict[str, str],
    signed_in: bool,
    expected: list[dict[str, Any]],
) -> None:
    files(ws, home, layout)
    cfg = run(ws, environ=environ, **editor)
    found = await models.list_models(
        cfg, oauth_signed_in=signed_in, endpoint=None, lister=None
    )
    paths = {"user": home / ".qwen" / "settings.json", "ws": ws / WS}
    for item in expected:
        item["source"] = item["source"].format(**paths)
    assert [e.as_dict(current=cfg.model.value) for e in found] == expected
    assert "${" not in repr(found)


def e(
    id: str, source: str, name: str | None = None, auth: str = "openai"
) -> ModelEntry:
    return ModelEntry(id=id, name=name or id, auth_type=auth, source=source)


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        pytest.param(
            [e("m", "endpoint h:1/models"), e("m", "modelProviders in /s", "Mine")],
            [e("m", "modelProviders in /s", "Mine")],
            id="settings-beats-endpoint-keeping-first-position",
        ),
        pytest.param(
            [e("m", "modelProviders in /s"), e("m", "endpoint h:1/models")],
            [e("m", "modelProviders in /s")],
            id="first-kept",
        ),
        pytest.param(
            [e("m", "Coding Plan"), e("m", "modelProviders in /s")],
            [e("m", "modelProviders in /s")],
            id="settings-beats-coding-plan",
        ),
        pytest.param(
            [e("m", "modelProviders in /s"), e("m", "current", "Nice")],
            [e("m", "modelProviders in /s", "Nice")],
            id="missing-name-taken-from-duplicate",
        ),
        pytest.param(
            [e("m", "endpoint h:1/models"), e("m", "current")],
            [e("m", "endpoint h:1/models")],
            id="endpoint-beats-current",
        ),
        pytest.param(
            [e("m", "modelProviders in /s"), e("m", "Qwen OAuth", auth="qwen-oauth")],
            [e("m", "modelProviders in /s"), e("m", "Qwen OAuth", auth="qwen-oauth")],
            id="same-id-other-auth-type-kept",
        ),
        pytest.param(
            [
                e("b", "current"),
                e("a", "endpoint h:1/models"),
                e("b", "endpoint h:1/models"),
            ],
            [e("b", "endpoint h:1/models"), e("a", "endpoint h:1/models")],
            id="order-of-first-appearance",
        ),
    ],
)
def test_merge(entries: list[ModelEntry], expected: list[ModelEntry]) -> None:
    assert models.merge(entries) == expected


async def test_endpoint_list_merged_with_settings(
    ws: Path, home: Path, run: Resolve
) -> None:
    files(
        ws, home, {USER: {"modelProviders": {"openai": [{"id": "gpt-x", "name": "X"}]}}}
    )
    cfg = run(ws, environ=KEY)
    asked: list[tuple[str, str | None]] = []

    async def lister(base_url: str, api_key: str | None) -> list[str] | None:
        asked.append((base_url, api_key))
        return ["qwen3-coder-plus", "gpt-x", "other"]

    found = await models.list_models(
        cfg,
        oauth_signed_in=False,
        endpoint=("http://user:pw@127.0.0.1:9/v1", "sk-test-0000"),
        lister=lister,
    )
    assert asked == [("http://user:pw@127.0.0.1:9/v1", "sk-test-0000")]
    assert [(x.id, x.name, x.source) for x in found] == [
        ("gpt-x", "X", f"modelProviders in {home / '.qwen' / 'settings.json'}"),
        ("qwen3-coder-plus", "qwen3-coder-plus", "endpoint 127.0.0.1:9/models"),
        ("other", "other", "endpoint 127.0.0.1:9/models"),
    ]


async def test_endpoint_without_list(ws: Path, run: Resolve) -> None:
    cfg = run(ws, environ=KEY)

    async def lister(base_url: str, api_key: str | None) -> list[str] | None:
        return None

    found = await models.list_models(
        cfg,
        oauth_signed_in=False,
        endpoint=("http://127.0.0.1:9/v1", None),
        lister=lister,
    )
    assert [(x.id, x.source) for x in found] == [("qwen3-coder-plus", "current")]


class FakeClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, float]] = []
        self.answer: list[str] | Exception | None = ["m1"]

    async def list_models(
        self, base_url: str, api_key: str | None, timeout: float = 3.0
    ) -> list[str] | None:
        self.calls.append((base_url, api_key, timeout))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def test_model_list_cache(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    cache = models.ModelListCache(
        ttl=60, failure_ttl=5, timeout=1.5, clock=lambda: now[0]
    )
    client: Any = FakeClient()
    caplog.set_level("DEBUG", logger="qwen_ls")

    assert await cache.ids(client, "http://h/v1/", "sk-test-0000") == ["m1"]
    assert await cache.ids(client, "http://h/v1", "sk-test-0000") == ["m1"]
    assert len(client.calls) == 1, "same endpoint and key: asked once"
    assert client.calls[0][2] == 1.5

    assert await cache.ids(client, "http://h/v1", "sk-test-1111") == ["m1"]
    assert len(client.calls) == 2, "another key may see other models"

    now[0] += 61
    client.answer = None
    assert await cache.ids(client, "http://h/v1", "sk-test-0000") is None
    assert len(client.calls) == 3, "expired"

    client.answer = NetworkError("connection refused")
    assert await cache.ids(client, "http://down/v1", "sk-test-0000") is None
    assert await cache.ids(client, "http://down/v1", "sk-test-0000") is None
    assert len(client.calls) == 4, "a dead endpoint is not waited for again at once"
    now[0] += 6
    client.answer = ["back"]
    assert await cache.ids(client, "http://down/v1", "sk-test-0000") == ["back"]

    assert "sk-test-0000" not in caplog.text
    assert all("sk-test" not in str(k) for k in cache._entries)


def many(n: int) -> list[ModelEntry]:
    return [e(f"m{i}", "endpoint h:1/models") for i in range(n)]


@pytest.mark.parametrize(
    ("entries", "current", "titles", "left_out"),
    [
        pytest.param(
            [e("a", "x", "Alpha"), e("b", "x")],
            "b",
            ["Alpha (a)", "● b"],
            0,
            id="marked",
        ),
        pytest.param(
            many(12),
            "m11",
            [*(f"m{i}" for i in range(9)), "● m11"],
            2,
            id="current-kept-when-cut",
        ),
        pytest.param(
            many(12),
            "m1",
            ["m0", "● m1", *(f"m{i}" for i in range(2, 10))],
            2,
            id="cut",
        ),
        pytest.param(
            [
                e("a", "x", "Same"),
                e("b", "x", "Same"),
                e("a", "y", "Same", auth="qwen-oauth"),
            ],
            "zz",
            ["Same (a)", "Same (b)", "Same (a) [qwen-oauth]"],
            0,
            id="titles-unique",
        ),
    ],
)
def test_choices(
    entries: list[ModelEntry], current: str, titles: list[str], left_out: int
) -> None:
    found, cut = models.choices(entries, current)
    assert list(found) == titles
    assert cut == left_out
    assert len(found) <= models.MAX_CHOICES


def require_trust(home: Path, trusted: bool) -> None:
    if not trusted:
        write(
            home / ".qwen" / "settings.json",
            {"security": {"folderTrust": {"enabled": True}}},
        )


@pytest.mark.parametrize(
    ("folder", "trusted", "scope", "expected"),
    [
        pytest.param(
            True, True, None, ("{ws}", "workspace", 0), id="default-workspace"
        ),
        pytest.param(True, True, "user", ("{user}", "user", 0), id="asked-user"),
        pytest.param(False, True, None, ("{user}", "user", 0), id="no-folder-user"),
        pytest.param(
            False,
            True,
            "workspace",
            "there is no workspace folder",
            id="no-folder-workspace",
        ),
        pytest.param(
            True, False, None, ("{user}", "user", 1), id="untrusted-default-user"
        ),
        pytest.param(
            True, False, "workspace", "is not trusted", id="untrusted-workspace-refused"
        ),
    ],
)
def test_target(
    ws: Path,
    home: Path,
    run: Resolve,
    folder: bool,
    trusted: bool,
    scope: str | None,
    expected: tuple[str, str, int] | str,
) -> None:
    require_trust(home, trusted)
    cfg = run(ws if folder else None, environ=KEY)
    if isinstance(expected, str):
        with pytest.raises(models.CannotSave, match=expected):
            models.target(cfg, scope)
        return
    found = models.target(cfg, scope)
    paths = {"user": home / ".qwen" / "settings.json", "ws": ws / WS}
    assert (str(found.path), found.scope, len(found.notes)) == (
        expected[0].format(**paths),
        expected[1],
        expected[2],
    )


def test_workspace_model_outranks_user_choice(
    ws: Path, home: Path, run: Resolve
) -> None:
    files(ws, home, {WS: {"model": {"name": "pinned"}}})
    cfg = run(ws, environ=KEY)
    user = models.target(cfg, "user")
    assert models.shadowed_by(cfg, user) == (
        f"model.name in {ws / WS} (pinned) outranks the user settings, so this folder "
        "keeps that model: choose with scope workspace, or remove it there"
    )
    assert models.shadowed_by(cfg, models.target(cfg, None)) is None


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(
            None, '{\n  "model": {\n    "name": "beta"\n  }\n}\n', id="new-file"
        ),
        pytest.param(
            '// my settings\n{\n  "model": {\n    "name": "alpha", // was alpha\n  },\n  /* keep */ "env": {},\n}\n',
            '// my settings\n{\n  "model": {\n    "name": "beta", // was alpha\n  },\n  /* keep */ "env": {},\n}\n',
            id="value-replaced-comments-and-commas-kept",
        ),
        pytest.param(
            '{\n    // four spaces\n    "model": {"generationConfig": {"timeout": 5}}\n}\n',
            '{\n    // four spaces\n    "model": {"generationConfig": {"timeout": 5}, "name": "beta"}\n}\n',
            id="key-added-to-existing-object",
        ),
        pytest.param(
            '{\r\n  "security": {"auth": {"selectedType": "openai"}}\r\n}\r\n',
            '{\r\n  "security": {"auth": {"selectedType": "openai"}},\r\n  "model": {\r\n    "name": "beta"\r\n  }\r\n}\r\n',
            id="object-added-crlf-kept",
        ),
    ],
)
def test_selection_write_keeps_the_file(
    tmp_path: Path, before: str | None, after: str
) -> None:
    path = tmp_path / ".qwen" / "settings.json"
    if before is not None:
        write(path, before)
    set_setting(path, "model.name", "beta")
    assert path.read_bytes().decode() == after


async def test_nothing_configured_lists_nothing(ws: Path, run: Resolve) -> None:
    cfg = run(ws)
    assert cfg.auth_type is None
    found = await models.list_models(
        cfg, oauth_signed_in=False, endpoint=None, lister=None
    )
    assert found == []


def test_save_writes_the_model_and_keeps_a_broken_file_as_it_was(
    tmp_path: Path,
) -> None:
    good = write(tmp_path / "good" / "settings.json", '{\n  // mine\n  "a": 1\n}\n')
    models.save(models.Target(good, "user"), "qwen-max")
    assert '"name": "qwen-max"' in good.read_text() and "// mine" in good.read_text()

    broken = write(tmp_path / "broken" / "settings.json", "{ not json")
    with pytest.raises(ConfigError) as raised:
        models.save(models.Target(broken, "workspace"), "qwen-max")
    assert str(raised.value).startswith(f"the model was not saved: {broken}")
    assert broken.read_text() == "{ not json"
