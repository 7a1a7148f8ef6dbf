"""Folder trust: trustedFolders.json rules, read only when user settings enable it."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qwen_ls.config import trust
from tests.config.helpers import Resolve, files, write

KEY = {"OPENAI_API_KEY": "sk-test-0000"}


@pytest.mark.parametrize(
    ("rules", "folder", "verdict"),
    [
        pytest.param({"/a/b": "TRUST_FOLDER"}, "/a/b", True, id="trust-folder-itself"),
        pytest.param(
            {"/a/b": "TRUST_FOLDER"}, "/a/b/c/d", True, id="trust-folder-below"
        ),
        pytest.param(
            {"/a/b": "TRUST_FOLDER"}, "/a/bc", None, id="sibling-prefix-not-matched"
        ),
        pytest.param({"/a/b": "TRUST_FOLDER"}, "/a", None, id="parent-not-trusted"),
        pytest.param(
            {"/a/b": "TRUST_PARENT"}, "/a/x", True, id="trust-parent-covers-siblings"
        ),
        pytest.param(
            {"/a/b": "TRUST_PARENT"}, "/a", True, id="trust-parent-covers-parent"
        ),
        pytest.param({"/a/b": "TRUST_PARENT"}, "/z", None, id="trust-parent-elsewhere"),
        pytest.param({"/a/b": "DO_NOT_TRUST"}, "/a/b", False, id="do-not-trust"),
        pytest.param(
            {"/a": "TRUST_FOLDER", "/a/b": "DO_NOT_TRUST"},
            "/a/b/c",
            False,
            id="specific-distrust-wins",
        ),
        pytest.param(
            {"/a": "DO_NOT_TRUST", "/a/b": "TRUST_FOLDER"},
            "/a/b",
            True,
            id="specific-trust-wins",
        ),
        pytest.param(
            {"/a/b": "DO_NOT_TRUST", "/a/b/c": "TRUST_PARENT"},
            "/a/b",
            False,
            id="equal-depth-distrust-wins",
        ),
        pytest.param({}, "/a", None, id="no-rules"),
    ],
)
def test_matching_rule(
    rules: dict[str, str], folder: str, verdict: bool | None
) -> None:
    assert trust.matching_rule(PurePosixPath(folder), rules) is verdict


def test_windows_rules_match_case_insensitively() -> None:
    rules = {r"C:\Work": "TRUST_FOLDER"}
    assert trust.matching_rule(PureWindowsPath(r"c:\work\proj"), rules) is True


def _enable(home: Path, rules: dict[str, str] | None) -> None:
    write(
        home / ".qwen" / "settings.json",
        {"security": {"folderTrust": {"enabled": True}}},
    )
    if rules is not None:
        write(home / ".qwen" / "trustedFolders.json", rules)


def _project_files(ws: Path, home: Path) -> None:
    files(
        ws,
        home,
        {
            ".qwen/.env": "OPENAI_MODEL=project-model\n",
            ".qwen/settings.json": {"model": {"name": "ws-settings-model"}},
            "~/.qwen/.env": "OPENAI_MODEL=home-model\n",
        },
    )


@pytest.mark.parametrize(
    ("enabled", "rules", "trusted"),
    [
        pytest.param(False, None, True, id="trust-off-everything-trusted"),
        pytest.param(True, None, False, id="no-rules-file-untrusted"),
        pytest.param(True, {}, False, id="no-match-untrusted"),
        pytest.param(True, {"{ws}": "TRUST_FOLDER"}, True, id="trust-folder"),
        pytest.param(True, {"{ws}/child": "TRUST_PARENT"}, True, id="trust-parent"),
        pytest.param(True, {"{ws}": "DO_NOT_TRUST"}, False, id="do-not-trust"),
    ],
)
def test_trust_decides_what_is_read(
    ws: Path,
    home: Path,
    run: Resolve,
    enabled: bool,
    rules: dict[str, str] | None,
    trusted: bool,
) -> None:
    _project_files(ws, home)
    if enabled:
        _enable(
            home,
            {k.format(ws=ws): v for k, v in rules.items()}
            if rules is not None
            else None,
        )
    config = run(ws, environ=KEY)
    assert config.trusted is trusted
    if trusted:
        assert config.model.value == "ws-settings-model"
        assert config.env_file == ws / ".qwen" / ".env"
        assert config.problems == []
        return
    assert config.model.value == "home-model"
    assert config.env_file == home / ".qwen" / ".env"
    assert config.problems == [
        f"workspace folder {ws} is not trusted (folder trust is enabled in the user "
        "settings): its .env files and .qwen/settings.json are ignored; to trust it, "
        "add "
        f'"{ws}": "TRUST_FOLDER" to {home / ".qwen" / "trustedFolders.json"}'
    ]


def test_workspace_cannot_enable_or_disable_trust(
    ws: Path, home: Path, run: Resolve
) -> None:
    _project_files(ws, home)
    write(
        ws / ".qwen" / "settings.json",
        {"security": {"folderTrust": {"enabled": False}}},
    )
    _enable(home, {})
    assert run(ws).trusted is False

    write(home / ".qwen" / "settings.json", {})
    write(
        ws / ".qwen" / "settings.json", {"security": {"folderTrust": {"enabled": True}}}
    )
    assert run(ws).trusted is True


def test_no_folder_is_always_trusted(home: Path, run: Resolve) -> None:
    _enable(home, {})
    config = run(None, environ=KEY)
    assert config.trusted is True
    assert config.problems == []


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(
            "{oops",
            "{path}: invalid JSON at line 1 column 2 — its rules are ignored, so no "
            "folder is trusted; the file is left unchanged",
            id="invalid-json",
        ),
        pytest.param(
            b"\xff", "{path}: not UTF-8 text — its rules are ignored", id="not-utf8"
        ),
        pytest.param(
            "[]", "{path}: must be an object of path: rule; ignored", id="not-object"
        ),
        pytest.param(
            '{"/x": "MAYBE"}',
            "{path}: the rule for /x must be TRUST_FOLDER, TRUST_PARENT or "
            "DO_NOT_TRUST; ignored",
            id="unknown-rule",
        ),
    ],
)
def test_bad_trusted_folders_file(
    ws: Path, home: Path, run: Resolve, content: str | bytes, problem: str
) -> None:
    _enable(home, None)
    path = write(home / ".qwen" / "trustedFolders.json", content)
    config = run(ws, environ=KEY)
    assert config.trusted is False
    assert config.problems[0] == problem.format(path=path)


def test_rule_naming_the_real_path_trusts_a_symlinked_folder(
    tmp_path: Path, home: Path, run: Resolve
) -> None:
    real = tmp_path / "data" / "proj"
    real.mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    _project_files(real, home)
    # The CLI checks its resolved current directory, so its rules name that path.
    _enable(home, {str(real): "TRUST_FOLDER"})
    config = run(link)
    assert config.trusted is True
    assert config.model.value == "ws-settings-model"
    assert config.env_file == link / ".qwen" / ".env", "the walk keeps the given path"


def test_distrust_of_either_path_wins(tmp_path: Path, home: Path, run: Resolve) -> None:
    real = tmp_path / "data" / "proj"
    real.mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    _enable(home, {str(link): "TRUST_FOLDER", str(real): "DO_NOT_TRUST"})
    assert run(link).trusted is False


def _cli_verdict(folder: PurePosixPath, rules: dict[str, str]) -> bool:
    """Qwen Code 0.24's reading of trustedFolders.json, as reference: any trusting
    rule covering the folder wins, else an exact DO_NOT_TRUST, else untrusted."""
    for raw, rule in rules.items():
        root = PurePosixPath(raw)
        root = root.parent if rule == "TRUST_PARENT" else root
        if rule != "DO_NOT_TRUST" and (folder == root or root in folder.parents):
            return True
    return False


_PATHS = ["/a", "/a/b", "/a/b/c", "/a/x", "/z"]


@given(
    rules=st.dictionaries(
        st.sampled_from(_PATHS),
        st.sampled_from(["TRUST_FOLDER", "TRUST_PARENT", "DO_NOT_TRUST"]),
        max_size=4,
    ),
    folder=st.sampled_from(_PATHS),
)
def test_never_trusts_what_the_cli_would_not(
    rules: dict[str, str], folder: str
) -> None:
    # Where rules conflict, qwen-ls may distrust a folder the CLI trusts (the most
    # specific rule decides), never the other way round.
    ours = trust.matching_rule(PurePosixPath(folder), rules) is True
    if ours:
        assert _cli_verdict(PurePosixPath(folder), rules)
