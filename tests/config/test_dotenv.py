"""The .env dialect: python-dotenv's parser plus the problems it passes over."""

from __future__ import annotations

import string
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_ls.config.dotenv import parse_env_bytes, parse_env_text
from tests.config.helpers import Resolve, write

PATH = PurePosixPath("/w/.qwen/.env")


def parse(data: str | bytes, environ: dict[str, str] | None = None) -> dict[str, str]:
    raw = data.encode() if isinstance(data, str) else data
    parsed = parse_env_bytes(raw, PATH, environ or {})
    assert parsed.problems == []
    return parsed.values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("A=1\n", {"A": "1"}, id="plain"),
        pytest.param("A=1", {"A": "1"}, id="no-final-newline"),
        pytest.param("export A=1\n", {"A": "1"}, id="export-prefix"),
        pytest.param("A = 1\n", {"A": "1"}, id="spaces-around-equals"),
        pytest.param("A=  b c  \n", {"A": "b c"}, id="unquoted-trimmed"),
        pytest.param("A=b # note\n", {"A": "b"}, id="inline-comment"),
        pytest.param("A=b#c\n", {"A": "b#c"}, id="hash-without-space-kept"),
        pytest.param("A= # note\n", {"A": ""}, id="only-a-comment"),
        pytest.param("A=\n", {"A": ""}, id="empty"),
        pytest.param("# comment\n\n  \nA=1\n", {"A": "1"}, id="comments-and-blanks"),
        pytest.param("A='x y'\n", {"A": "x y"}, id="single-quoted"),
        pytest.param(
            "A='${B} \\n $'\n", {"A": "${B} \\n $"}, id="single-quoted-literal"
        ),
        pytest.param('A="a\\nb\\"c\\\\d"\n', {"A": 'a\nb"c\\d'}, id="double-escapes"),
        pytest.param('A="l1\nl2"\nB=2\n', {"A": "l1\nl2", "B": "2"}, id="multi-line"),
        pytest.param("A=1\nB=${A}x\n", {"A": "1", "B": "1x"}, id="expand-earlier-line"),
        pytest.param('A=1\nB="${A}"\n', {"A": "1", "B": "1"}, id="expand-in-double"),
        pytest.param("B=${C:-dflt}\n", {"B": "dflt"}, id="expand-default"),
        pytest.param("A=pa$$w$rd$\n", {"A": "pa$$w$rd$"}, id="bare-dollar-kept"),
        pytest.param("A=$HOME\n", {"A": "$HOME"}, id="dollar-name-not-expanded"),
        pytest.param("\ufeffA=1\n", {"A": "1"}, id="bom"),
        pytest.param("A=1\r\nB='2'\r\n", {"A": "1", "B": "2"}, id="crlf"),
        pytest.param('A="x\r\ny"\r\n', {"A": "x\ny"}, id="crlf-inside-quotes"),
        pytest.param("A=1\rB=2\r", {"A": "1", "B": "2"}, id="old-mac-cr"),
        pytest.param("export A\nB=1\n", {"B": "1"}, id="bare-export-ignored"),
        pytest.param("'A B'=1\n", {"A B": "1"}, id="quoted-key"),
    ],
)
def test_dialect(text: str, expected: dict[str, str]) -> None:
    assert parse(text) == expected


def test_expansion_prefers_earlier_line_then_process() -> None:
    text = "A=file\nB=${A}\nC=${P}\nD=${Q}\n"
    parsed = parse_env_text(text, PATH, {"A": "proc", "P": "proc", "Q": ""})
    assert parsed.values == {"A": "file", "B": "file", "C": "proc", "D": ""}
    assert parsed.problems == [
        f"{PATH} line 4: D refers to ${{Q}}, which is not defined in an earlier line "
        "or the environment; it expands to nothing"
    ]


def test_expansion_does_not_see_later_lines() -> None:
    parsed = parse_env_text("B=${A}\nA=1\n", PATH, {})
    assert parsed.values == {"B": "", "A": "1"}
    assert len(parsed.problems) == 1
    assert "line 1: B refers to ${A}" in parsed.problems[0]


def test_not_utf8_is_a_problem_not_a_crash() -> None:
    parsed = parse_env_bytes(b"A=caf\xe9\n", PATH, {})
    assert parsed.values == {}
    assert parsed.problems == [
        f"{PATH} line 1: not UTF-8 text; file ignored: save it as UTF-8"
    ]


def test_B01_crlf_values_have_no_carriage_return(ws: Path, run: Resolve) -> None:
    env = write(
        ws / ".qwen" / ".env",
        b"OPENAI_API_KEY=sk-test-0000\r\nOPENAI_BASE_URL=http://127.0.0.1:8999/v1\r\n"
        b'OPENAI_MODEL="qwen3-coder-plus"\r\n',
    )
    config = run(ws)
    assert config.api_key is not None
    assert config.api_key.value.get_secret_value() == "sk-test-0000"
    assert config.base_url is not None
    assert config.base_url.value == "http://127.0.0.1:8999/v1"
    assert config.model.value == "qwen3-coder-plus"
    assert config.env_file == env
    assert config.problems == []


@pytest.mark.parametrize(
    ("content", "origin"),
    [
        pytest.param(b'OPENAI_API_KEY="sk-test-0000\\r"\n', "file", id="escaped-cr"),
        pytest.param(b'OPENAI_API_KEY="sk-test-0000\\n"\n', "file", id="escaped-lf"),
        pytest.param(b"OPENAI_API_KEY=sk-test\x7f0000\n", "file", id="delete-char"),
    ],
)
def test_B01_control_character_in_key_is_refused(
    ws: Path, run: Resolve, content: bytes, origin: str
) -> None:
    env = write(ws / ".qwen" / ".env", content)
    config = run(ws)
    assert config.api_key is None
    assert config.problems == [
        f"OPENAI_API_KEY from {env} contains a control character (CR/LF?); the key is "
        "not used: save the file with LF line ends or remove the character"
    ]


def test_B01_control_character_from_process_environment(ws: Path, run: Resolve) -> None:
    config = run(ws, environ={"OPENAI_API_KEY": "sk-test-0000\r"})
    assert config.api_key is None
    assert config.problems[0].startswith(
        "OPENAI_API_KEY from the process environment contains a control character"
    )


def test_B03_export_prefix(ws: Path, run: Resolve) -> None:
    write(
        ws / ".qwen" / ".env",
        "export OPENAI_API_KEY=sk-test-0000\n"
        "export proxy_url=http://proxy.test:3128\n"
        "exporter_mode=on\n"
        "export\tOPENAI_MODEL=qwen3-coder-plus\n"
        "export  OPENAI_BASE_URL=http://127.0.0.1:8999/v1\n"
        "export OPENAI_API_KEY\n",
    )
    config = run(ws)
    assert config.env == {
        "OPENAI_API_KEY": "sk-test-0000",
        "proxy_url": "http://proxy.test:3128",
        "exporter_mode": "on",
        "OPENAI_MODEL": "qwen3-coder-plus",
        "OPENAI_BASE_URL": "http://127.0.0.1:8999/v1",
    }
    assert config.problems == []


def test_B04_quotes_removed_and_unbalanced_quote_reported(
    ws: Path, run: Resolve
) -> None:
    env = write(
        ws / ".qwen" / ".env",
        "OPENAI_API_KEY='sk-test-0000'\n"
        'OPENAI_BASE_URL = "http://127.0.0.1:8999/v1"\n'
        "OPENAI_MODEL=  qwen3-coder-plus   \n"
        'BROKEN="sk-test-9999\n',
    )
    config = run(ws)
    assert config.env == {
        "OPENAI_API_KEY": "sk-test-0000",
        "OPENAI_BASE_URL": "http://127.0.0.1:8999/v1",
        "OPENAI_MODEL": "qwen3-coder-plus",
    }
    assert config.problems == [
        f"{env}: unterminated quote at line 4; BROKEN not loaded: add the closing quote"
    ]
    assert not any(v.startswith(('"', "'")) for v in config.env.values())
    assert "9999" not in " ".join(config.problems)


def test_B06_multi_line_value_keeps_following_keys(ws: Path, run: Resolve) -> None:
    write(
        ws / ".qwen" / ".env",
        'QWEN_SYSTEM_PROMPT="You are terse.\nAnswer in English."\n'
        "OPENAI_API_KEY=sk-test-0000\n",
    )
    config = run(ws)
    assert config.env["QWEN_SYSTEM_PROMPT"] == "You are terse.\nAnswer in English."
    assert config.api_key is not None
    assert config.problems == []


def test_B06_unterminated_quote_hides_later_keys(ws: Path, run: Resolve) -> None:
    # Decision: the quoted value runs on to the end of the file (the multi-line rule),
    # so the lines after it are not loaded and the missing key says why.
    env = write(
        ws / ".qwen" / ".env", 'NOTE="forgot to close\nOPENAI_API_KEY=sk-test-0000\n'
    )
    config = run(ws)
    assert config.api_key is None
    assert "NOTE" not in config.env
    assert config.problems[0] == (
        f"{env}: unterminated quoted value starting at line 1 (may hide "
        "OPENAI_API_KEY); NOTE and every line after it were not loaded: add the "
        "closing quote"
    )
    assert config.problems[1].startswith(
        f"OPENAI_API_KEY not set (workspace {ws}): {env} has an unterminated quoted "
        "value starting at line 1 (may hide OPENAI_API_KEY); add the closing quote"
    )
    assert "sk-test-0000" not in repr(config)


def test_B09_duplicate_keys_last_wins_with_warning(ws: Path, run: Resolve) -> None:
    env = write(
        ws / ".qwen" / ".env",
        "OPENAI_API_KEY=sk-test-0001\nOPENAI_MODEL=qwen3-coder-plus\n"
        "OPENAI_API_KEY=sk-test-0002\n",
    )
    config = run(ws)
    assert config.api_key is not None
    assert config.api_key.value.get_secret_value() == "sk-test-0002"
    assert config.problems == [
        f"OPENAI_API_KEY defined twice in {env} (lines 1, 3); using line 3"
    ]


def test_B09_three_times() -> None:
    parsed = parse_env_text("A=1\nA=2\n\nA=3\n", PATH, {})
    assert parsed.values == {"A": "3"}
    assert parsed.problems == [
        f"A defined 3 times in {PATH} (lines 1, 2, 4); using line 4"
    ]


def test_B10_invalid_and_blank_lines(ws: Path, run: Resolve) -> None:
    env = write(
        ws / ".qwen" / ".env",
        "OPENAI_API_KEY=sk-test-0000\n\n   \nthis line is not an assignment\n=orphan\n"
        "OPENAI_MODEL=qwen3-coder-plus",
    )
    config = run(ws)
    assert config.env == {
        "OPENAI_API_KEY": "sk-test-0000",
        "OPENAI_MODEL": "qwen3-coder-plus",
    }
    assert config.problems == [
        f"{env} line 4: not a KEY=value assignment; line ignored",
        f"{env} line 5: no variable name before '='; line ignored",
    ]
    assert env.is_absolute()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param("sk-SECRET0000", "not a KEY=value assignment", id="pasted-key"),
        pytest.param("SECRET0000", "not a KEY=value assignment", id="bare-word"),
        pytest.param(
            "my key=SECRET0000", "not a KEY=value assignment", id="space-in-name"
        ),
        pytest.param(
            'TOKEN="SECRET0000" trailing',
            "cannot parse the value of TOKEN",
            id="garbage-after-quote",
        ),
        pytest.param("=SECRET0000", "no variable name before '='", id="no-name"),
    ],
)
def test_B10_bad_line_never_quotes_the_value(line: str, message: str) -> None:
    parsed = parse_env_text(f"A=1\n{line}\nB=2\n", PATH, {})
    assert parsed.values == {"A": "1", "B": "2"}
    assert parsed.problems == [f"{PATH} line 2: {message}; line ignored"]


_SAFE = string.ascii_letters + string.digits + "_-./:@+,%$"
_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
_unquoted = st.text(alphabet=_SAFE, max_size=20)
_single = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="'\\"
    ).filter(lambda c: c not in "\u2028\u2029")
    | st.just("\n"),
    max_size=20,
)
_double = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.just("\n"),
    max_size=20,
).filter(lambda v: "${" not in v)


def _encode(style: str, value: str) -> str:
    if style == "single":
        return f"'{value}'"
    if style == "double":
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    return value


@st.composite
def _env_files(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    names = draw(st.lists(_names, unique=True, max_size=6))
    lines, expected = [], {}
    for name in names:
        style = draw(st.sampled_from(["unquoted", "single", "double"]))
        value = draw(
            {"unquoted": _unquoted, "single": _single, "double": _double}[style]
        )
        prefix = draw(st.sampled_from(["", "export ", "export\t"]))
        spaces = draw(st.sampled_from(["=", " = ", "= "]))
        lines.append(f"{prefix}{name}{spaces}{_encode(style, value)}")
        expected[name] = value
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    text = bom + newline.join(lines) + draw(st.sampled_from(["", newline]))
    return text.encode(), expected


@settings(max_examples=150, deadline=None)
@given(_env_files())
def test_property_valid_lines_round_trip(case: tuple[bytes, dict[str, str]]) -> None:
    data, expected = case
    parsed = parse_env_bytes(data, PATH, {})
    assert parsed.problems == []
    assert parsed.values == expected
