"""API key checks, .env edits that touch only the key's lines, and keeping the file
out of git."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path, PurePath

import pytest
from dotenv import dotenv_values
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_ls.auth import (
    KeyNotStored,
    protect_from_git,
    store_api_key,
    store_env_values,
    validate_api_key,
    validate_coding_plan_key,
)
from qwen_ls.config.dotenv import parse_env_text

KEY = "sk-test-0000abcd"
HAS_GIT = shutil.which("git") is not None


@pytest.mark.parametrize(
    ("key", "message"),
    [
        pytest.param("", "the API key is empty", id="empty"),
        pytest.param(
            f"{KEY} ",
            "the API key contains spaces or line breaks; paste the key alone",
            id="space",
        ),
        pytest.param(
            f"{KEY}\n",
            "the API key contains spaces or line breaks; paste the key alone",
            id="newline",
        ),
        pytest.param(
            f"{KEY}\x07",
            "the API key contains control characters; paste the key alone",
            id="control",
        ),
        pytest.param(
            f"“{KEY}”",
            "the API key contains non-ASCII characters (such as curly quotes); paste "
            "the key alone",
            id="curly-quotes",
        ),
        pytest.param(
            f'"{KEY}"',
            "the API key is wrapped in quotes; paste it without them",
            id="quoted",
        ),
        pytest.param(
            f"OPENAI_API_KEY={KEY}",
            "that looks like a whole NAME=value line; paste only the key after the =",
            id="whole-line",
        ),
        pytest.param(
            "k" * 2000,
            "the API key is 2000 characters long, more than any real key; "
            "paste the key alone",
            id="too-long",
        ),
    ],
)
def test_validate_api_key(key: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_api_key(key)
    assert str(caught.value) == message


@pytest.mark.parametrize("key", [KEY, "sk-sp-abc123", "abcDEF123456==", "a.b_c-d"])
def test_valid_api_keys(key: str) -> None:
    validate_api_key(key)


def test_coding_plan_key() -> None:
    validate_coding_plan_key("sk-sp-0000test")
    with pytest.raises(ValueError) as caught:
        validate_coding_plan_key(KEY)
    assert str(caught.value) == (
        "Coding Plan keys start with sk-sp-, this one does not; for a DashScope or "
        "other provider key choose API key instead"
    )
    with pytest.raises(ValueError, match="empty"):
        validate_coding_plan_key("")


# -- .env edits --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "values", "after"),
    [
        pytest.param(
            "# my keys\nA=1\n\nK=old # work account\nB=2\n",
            {"K": "new"},
            "# my keys\nA=1\n\nK=new # work account\nB=2\n",
            id="comments-kept",
        ),
        pytest.param("A=1\r\nK=old\r\n", {"K": "new"}, "A=1\r\nK=new\r\n", id="crlf"),
        pytest.param("A=1\r\n", {"K": "v"}, "A=1\r\nK=v\r\n", id="crlf-append"),
        pytest.param("export K=old\n", {"K": "new"}, "export K=new\n", id="export"),
        pytest.param(
            "  K = 'old'  \n", {"K": "new"}, "  K=new  \n", id="spaces-quotes"
        ),
        pytest.param("A=1", {"K": "v"}, "A=1\nK=v\n", id="no-final-newline"),
        pytest.param("", {"K": "v"}, "K=v\n", id="empty"),
        pytest.param("K=1\nA=1\nK=2\n", {"K": "3"}, "A=1\nK=3\n", id="duplicates"),
        pytest.param("A=1\nK=v\nB=2\n", {"K": None}, "A=1\nB=2\n", id="remove"),
        pytest.param("A=1\n\nK=v\n", {"K": None}, "A=1\n\n", id="remove-keeps-blank"),
        pytest.param("A=1\n", {"K": None}, "A=1\n", id="remove-absent"),
        pytest.param(
            'K="line1\nline2"\nB=2\n',
            {"K": "new"},
            "K=new\nB=2\n",
            id="multiline-value",
        ),
        pytest.param("K=v\n", {"K": "a b"}, "K='a b'\n", id="quote-space"),
        pytest.param("K=v\n", {"K": "x${HOME}"}, "K='x${HOME}'\n", id="quote-dollar"),
        pytest.param("K=v\n", {"K": "a#b"}, "K='a#b'\n", id="quote-hash"),
        pytest.param("K=v\n", {"K": "it's"}, 'K="it\'s"\n', id="quote-apostrophe"),
        pytest.param("K=v\n", {"K": ""}, "K=\n", id="empty-value"),
        pytest.param(
            "A=1\n", {"K": KEY, "M": "x"}, f"A=1\nK={KEY}\nM=x\n", id="two-keys"
        ),
    ],
)
def test_store_env_values(
    tmp_path: Path, before: str, values: dict[str, str | None], after: str
) -> None:
    path = tmp_path / ".env"
    path.write_bytes(before.encode())
    path.chmod(0o640)

    changed = store_env_values(path, values)

    assert path.read_bytes().decode() == after
    assert changed == (before != after)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


def test_new_env_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "ws" / ".qwen" / ".env"
    assert store_env_values(path, {"OPENAI_API_KEY": KEY}) is True
    assert path.read_text() == f"OPENAI_API_KEY={KEY}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_bom_is_kept(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"\xef\xbb\xbfA=1\n")
    store_env_values(path, {"A": "2"})
    assert path.read_bytes() == b"\xef\xbb\xbfA=2\n"


def test_unchanged_file_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    inode = path.stat().st_ino
    assert store_env_values(path, {"A": "1"}) is False
    assert path.stat().st_ino == inode


def test_key_behind_an_unterminated_quote_is_refused(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text('A="abc\n')
    with pytest.raises(KeyNotStored) as caught:
        store_env_values(path, {"K": "it's"})
    assert "unterminated quote" in str(caught.value)
    assert path.read_text() == 'A="abc\n'


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param(
            {"K": "a\nb"}, "the value for K contains a line break", id="newline"
        ),
        pytest.param({"K": "a'\"b"}, "the value for K mixes quotes", id="both-quotes"),
        pytest.param(
            {"1K": "v"}, "'1K' is not a valid environment variable name", id="name"
        ),
    ],
)
def test_unwritable_values_are_refused(
    tmp_path: Path, values: dict[str, str | None], message: str
) -> None:
    path = tmp_path / ".env"
    with pytest.raises(KeyNotStored, match=message):
        store_env_values(path, values)
    assert not path.exists()


@settings(max_examples=200, deadline=None)
@given(
    value=st.text(
        alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30
    )
)
def test_written_values_read_back_exactly(value: str) -> None:
    """Whatever is written reads back unchanged with python-dotenv and qwen-ls's own
    reader (which expands ${VAR} outside single quotes), or is refused."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ".env"
        path.write_text("# keys\nA=1\n")
        try:
            store_env_values(path, {"K": value})
        except KeyNotStored:
            assert path.read_text() == "# keys\nA=1\n"
            return
        text = path.read_text()

    if "${" not in value:
        # python-dotenv expands ${...} even in single quotes; the readers that
        # matter (qwen-ls's, and the CLI's Node dotenv) do not.
        assert dotenv_values(stream=io.StringIO(text))["K"] == value
    parsed = parse_env_text(text, PurePath(".env"), {"HOME": "/h"})
    assert parsed.values["K"] == value
    assert parsed.problems == []


# -- git ---------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=10
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if not HAS_GIT:
        pytest.skip("git is not installed")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    assert git(workspace, "init", "-q").returncode == 0
    return workspace


def test_env_file_in_a_repo_is_excluded(repo: Path) -> None:
    env_file = repo / ".qwen" / ".env"

    assert protect_from_git(env_file, repo) == (True, False)
    assert protect_from_git(env_file, repo) == (False, False)  # already ignored

    exclude = (repo / ".git" / "info" / "exclude").read_text()
    assert exclude.count("/.qwen/.env") == 1
    store_env_values(env_file, {"OPENAI_API_KEY": KEY})
    assert git(repo, "status", "--porcelain", "--untracked-files=all").stdout == ""
    assert not (repo / ".gitignore").exists()


def test_env_file_already_ignored_is_left_alone(repo: Path) -> None:
    (repo / ".gitignore").write_text(".env\n")
    assert protect_from_git(repo / ".env", repo) == (False, False)
    assert "/.env" not in (repo / ".git" / "info" / "exclude").read_text()


def test_tracked_env_file_is_reported(repo: Path) -> None:
    (repo / ".env").write_text("A=1\n")
    assert git(repo, "add", ".env").returncode == 0

    assert protect_from_git(repo / ".env", repo) == (False, True)

    stored = store_api_key(repo / ".env", {"OPENAI_API_KEY": KEY}, workspace=repo)
    assert stored.git_tracked_warning and not stored.git_ignored
    assert stored.messages == [
        f"Saved OPENAI_API_KEY in {repo / '.env'}.",
        f"Warning: {repo / '.env'} is tracked by git, so the key would be committed "
        f"with it: run `git rm --cached {repo / '.env'}` and commit, or store the key "
        "in user settings instead.",
    ]


def test_store_api_key_in_a_repo(repo: Path) -> None:
    env_file = repo / ".env"
    stored = store_api_key(
        env_file, {"BAILIAN_CODING_PLAN_API_KEY": "sk-sp-0000test"}, workspace=repo
    )
    assert (stored.created, stored.git_ignored, stored.git_tracked_warning) == (
        True,
        True,
        False,
    )
    assert stored.messages == [
        f"Saved BAILIAN_CODING_PLAN_API_KEY in {env_file}.",
        "Added .env to the repository's .git/info/exclude so that git ignores it.",
    ]
    assert all("sk-sp" not in message for message in stored.messages)


def test_paths_with_glob_characters_are_escaped(repo: Path) -> None:
    env_file = repo / "we[ir]d*" / ".env"
    assert protect_from_git(env_file, repo) == (True, False)
    assert git(repo, "check-ignore", "-q", "we[ir]d*/.env").returncode == 0
    assert git(repo, "check-ignore", "-q", "wei/.env").returncode == 1


def test_outside_a_repo_or_workspace(tmp_path: Path, repo: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert protect_from_git(plain / ".env", plain) == (False, False)
    assert protect_from_git(tmp_path / "home" / ".qwen" / ".env", repo) == (
        False,
        False,
    )


def test_without_git_on_path(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo / "nowhere"))
    assert protect_from_git(repo / ".env", repo) == (False, False)
    assert "/.env" not in (repo / ".git" / "info" / "exclude").read_text()


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_symlinked_env_file_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real.env"
    real.write_text("A=1\n")
    link = tmp_path / ".env"
    link.symlink_to(real)
    store_env_values(link, {"A": "2"})
    assert link.is_symlink()
    assert real.read_text() == "A=2\n"
