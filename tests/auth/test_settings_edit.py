"""settings.json writes keep everything but the key being set, byte for byte."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from json5.dumper import ModelDumper, dumps
from json5.loader import ModelLoader, loads

from qwen_ls.config.edit import SettingsNotWritable, remove_setting, set_setting
from qwen_ls.config.settings import parse_jsonc

USER_FILE = """\
// Qwen Code settings
{
  /* provider */
  "security": {
    "auth": {"selectedType": "qwen-oauth"}, // chosen in the CLI
  },
  "model": {
    "name": "coder-model",
  },
  "modelProviders": {"openai": [{"id": "m", "envKey": "OPENAI_API_KEY",},],},
}
"""


def test_json_five_round_trips_comments_and_trailing_commas() -> None:
    """What made json-five the parser here: its model gives the text back unchanged."""
    model = loads(USER_FILE, loader=ModelLoader())
    # json-five documents this call; its annotations do not list ModelDumper.
    assert dumps(model, dumper=ModelDumper()) == USER_FILE  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("before", "key", "value", "after"),
    [
        pytest.param(
            USER_FILE,
            "security.auth.selectedType",
            "openai",
            USER_FILE.replace('"qwen-oauth"', '"openai"'),
            id="replace-nested-value",
        ),
        pytest.param(
            USER_FILE,
            "model.name",
            "qwen3-coder-plus",
            USER_FILE.replace('"coder-model"', '"qwen3-coder-plus"'),
            id="replace-keeps-trailing-comma",
        ),
        pytest.param(
            USER_FILE,
            "env.BAILIAN_CODING_PLAN_API_KEY",
            "sk-sp-0000test",
            USER_FILE.replace(
                '"OPENAI_API_KEY",},],},\n}',
                '"OPENAI_API_KEY",},],},\n'
                '  "env": {\n'
                '    "BAILIAN_CODING_PLAN_API_KEY": "sk-sp-0000test"\n'
                "  },\n}",
            ),
            id="new-object-follows-trailing-comma-style",
        ),
        pytest.param(
            '{\n  // keep\n  "x": 1 // note\n}\n',
            "security.auth.selectedType",
            "openai",
            '{\n  // keep\n  "x": 1, // note\n  "security": {\n    "auth": {\n'
            '      "selectedType": "openai"\n    }\n  }\n}\n',
            id="comma-goes-before-the-comment",
        ),
        pytest.param(
            '{\r\n  "x": 1,\r\n  /* c */\r\n}\r\n',
            "env.K",
            "v",
            '{\r\n  "x": 1,\r\n  "env": {\r\n    "K": "v"\r\n  },\r\n'
            "  /* c */\r\n}\r\n",
            id="crlf",
        ),
        pytest.param(
            '{\n\t"a": {\n\t\t"b": 1\n\t}\n}\n',
            "a.c",
            2,
            '{\n\t"a": {\n\t\t"b": 1,\n\t\t"c": 2\n\t}\n}\n',
            id="tabs",
        ),
        pytest.param(
            '{"a": 1}', "b.c", [1, 2], '{"a": 1, "b": {"c": [1, 2]}}', id="one-line"
        ),
        pytest.param("{}", "a", True, '{\n  "a": true\n}', id="empty-object"),
        pytest.param(
            '{\n  "env": {}\n}\n',
            "env.K",
            "v",
            '{\n  "env": {\n    "K": "v"\n  }\n}\n',
            id="empty-nested",
        ),
        pytest.param(
            "",
            "model.name",
            "m",
            '{\n  "model": {\n    "name": "m"\n  }\n}\n',
            id="empty-file",
        ),
        pytest.param(
            '{\n  "model": "flat-name"\n}\n',
            "model.name",
            "m",
            '{\n  "model": {\n    "name": "m"\n  }\n}\n',
            id="older-flat-value-replaced",
        ),
        pytest.param(
            '{"a": 1, "a": 2}', "a", 3, '{"a": 1, "a": 3}', id="duplicate-last-edited"
        ),
        pytest.param(
            '{\n  "model": {"name": "a"}\n}\n',
            "model.name",
            "a",
            '{\n  "model": {"name": "a"}\n}\n',
            id="unchanged",
        ),
    ],
)
def test_set_setting(
    tmp_path: Path, before: str, key: str, value: Any, after: str
) -> None:
    path = tmp_path / "settings.json"
    path.write_text(before, newline="")

    set_setting(path, key, value)

    assert path.read_bytes().decode() == after


@pytest.mark.parametrize(
    ("before", "key", "after"),
    [
        pytest.param(
            '{\n  "a": 1,\n  "b": 2\n}\n',
            "b",
            '{\n  "a": 1\n}\n',
            id="last-drops-comma",
        ),
        pytest.param(
            '{\n  "a": 1,\n  // about b\n  "b": 2, // note\n  "c": 3,\n}\n',
            "b",
            '{\n  "a": 1,\n  // about b\n  "c": 3,\n}\n',
            id="middle-with-comment",
        ),
        pytest.param(
            '{\n  "a": 1,\n  "b": 2,\n}\n',
            "b",
            '{\n  "a": 1,\n}\n',
            id="trailing-comma",
        ),
        pytest.param('{"a": 1, "b": 2}', "a", '{"b": 2}', id="inline-first"),
        pytest.param('{"a": 1, "b": 2}', "b", '{"a": 1}', id="inline-last"),
        pytest.param('{"a": {"x": 1}, "a": 2}', "a", "{}", id="duplicates"),
        pytest.param(
            '{\n  "env": {\n    "K": "v"\n  }\n}',
            "env.K",
            '{\n  "env": {\n  }\n}',
            id="nested",
        ),
    ],
)
def test_remove_setting(tmp_path: Path, before: str, key: str, after: str) -> None:
    path = tmp_path / "settings.json"
    path.write_text(before)

    assert remove_setting(path, key) is True

    assert path.read_text() == after


def test_remove_absent(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    assert remove_setting(path, "a.b") is False
    assert not path.exists()
    path.write_text('{"a": 1}')
    assert remove_setting(path, "a.b") is False
    assert remove_setting(path, "c") is False
    assert path.read_text() == '{"a": 1}'


def test_B18_bom_and_crlf_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(b'\xef\xbb\xbf{\r\n  "model": {"name": "a"}\r\n}\r\n')
    set_setting(path, "model.name", "b")
    assert path.read_bytes() == b'\xef\xbb\xbf{\r\n  "model": {"name": "b"}\r\n}\r\n'


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param(
            '{ modelProviders: { "openai": [] } }', "line 1 column 3", id="B19"
        ),
        pytest.param('{\n  "a": 1\n  "b": 2\n}', "line 3 column 3", id="missing-comma"),
        pytest.param("// only a comment\n", "line 2 column 1", id="comment-only"),
        pytest.param("{'a': 1}", "line 1 column 2", id="single-quotes"),
    ],
)
def test_B19_unparseable_settings_are_never_rewritten(
    tmp_path: Path, text: str, where: str
) -> None:
    path = tmp_path / "settings.json"
    path.write_text(text)

    with pytest.raises(SettingsNotWritable) as caught:
        set_setting(path, "model.name", "m")
    with pytest.raises(SettingsNotWritable):
        remove_setting(path, "model.name")

    assert str(caught.value).startswith(f"{path}: invalid JSON at {where} (")
    assert str(caught.value).endswith(
        "; the file was not changed — fix it, then try again"
    )
    assert path.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.json"]


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("[1]")
    with pytest.raises(SettingsNotWritable, match="top level must be a JSON object"):
        set_setting(path, "a", 1)
    assert path.read_text() == "[1]"


def test_new_user_settings_file(home: Path) -> None:
    path = home / ".qwen" / "settings.json"
    set_setting(path, "security.auth.selectedType", "openai")
    assert json.loads(path.read_text()) == {
        "security": {"auth": {"selectedType": "openai"}}
    }
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_existing_mode_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{}")
    path.chmod(0o644)
    set_setting(path, "a", 1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_unwritable_location_is_reported(tmp_path: Path) -> None:
    (tmp_path / ".qwen").write_text("a file")
    with pytest.raises(SettingsNotWritable, match="Not a directory"):
        set_setting(tmp_path / ".qwen" / "settings.json", "a", 1)


def test_keys_with_dots_as_parts(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    set_setting(path, ["mcpServers", "my.server", "command"], "x")
    assert json.loads(path.read_text()) == {
        "mcpServers": {"my.server": {"command": "x"}}
    }
    with pytest.raises(ValueError):
        set_setting(path, "a..b", 1)


_KEYS = st.sampled_from(["a", "b", "model", "name", "env", "K"])
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(_KEYS, inner, max_size=2)
    ),
    max_leaves=5,
)


@settings(max_examples=150, deadline=None)
@given(
    start=st.dictionaries(_KEYS, _VALUES, max_size=4),
    path=st.lists(_KEYS, min_size=1, max_size=3),
    value=_VALUES,
    indent=st.sampled_from([None, 2, 4, "\t"]),
)
def test_set_then_remove_changes_only_that_key(
    tmp_path_factory: pytest.TempPathFactory,
    start: dict[str, Any],
    path: list[str],
    value: Any,
    indent: int | str | None,
) -> None:
    file = tmp_path_factory.mktemp("prop") / "settings.json"
    file.write_text(json.dumps(start, indent=indent))

    set_setting(file, path, value)
    expected = json.loads(json.dumps(start))
    node = expected
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[path[-1]] = value
    assert parse_jsonc(file.read_text()) == expected

    assert remove_setting(file, path) is True
    del node[path[-1]]
    assert parse_jsonc(file.read_text()) == expected
