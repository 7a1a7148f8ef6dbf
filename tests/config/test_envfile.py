"""Choosing the one .env file: the walk, home fallbacks, exclusions, layering."""

from __future__ import annotations

import os
import time
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

import pytest

from qwen_ls.config import envfile
from qwen_ls.config import files as config_files
from qwen_ls.config.files import FileRead
from tests.config.helpers import Resolve, files, write


def fake_reader(existing: set[str], flavour: type[PurePath]) -> envfile.Reader:
    def read(path: PurePath) -> FileRead:
        if str(path) in {str(flavour(p)) for p in existing}:
            return FileRead(path=path, data=b"OPENAI_API_KEY=sk-test-0000\n")
        return FileRead(path=path)

    return read


HOME = PurePosixPath("/home/dev")


@pytest.mark.parametrize(
    ("folder", "existing", "chosen", "project"),
    [
        pytest.param(
            "/home/dev/app",
            {"/home/dev/app/.qwen/.env", "/home/dev/app/.env"},
            "/home/dev/app/.qwen/.env",
            True,
            id="qwen-env-before-env-in-same-dir",
        ),
        pytest.param(
            "/home/dev/app/sub",
            {"/home/dev/app/.env", "/home/dev/app/sub/.env"},
            "/home/dev/app/sub/.env",
            True,
            id="nearest-dir-wins",
        ),
        pytest.param(
            "/home/dev/app/sub",
            {"/home/dev/app/.env", "/home/dev/.qwen/.env"},
            "/home/dev/app/.env",
            True,
            id="walk-finds-parent-dir",
        ),
        pytest.param(
            "/home/dev/app",
            {"/home/dev/.qwen/.env", "/home/dev/.env"},
            "/home/dev/.qwen/.env",
            False,
            id="home-reached-by-walk-is-home-file",
        ),
        pytest.param(
            "/srv/proj",
            {"/home/dev/.qwen/.env", "/home/dev/.env"},
            "/home/dev/.qwen/.env",
            False,
            id="home-qwen-env-fallback",
        ),
        pytest.param(
            "/srv/proj", {"/home/dev/.env"}, "/home/dev/.env", False, id="home-env"
        ),
        pytest.param(
            "/srv/proj",
            {"/srv/.env", "/home/dev/.qwen/.env"},
            "/srv/.env",
            True,
            id="project-file-outside-home-beats-home",
        ),
        pytest.param("/srv/proj", {"/.env"}, "/.env", True, id="filesystem-root"),
        pytest.param(
            None,
            {"/srv/.env", "/home/dev/.env"},
            "/home/dev/.env",
            False,
            id="no-folder",
        ),
        pytest.param("/srv/proj", set(), None, None, id="nothing-found"),
    ],
)
def test_walk_order(
    folder: str | None, existing: set[str], chosen: str | None, project: bool | None
) -> None:
    start = PurePosixPath(folder) if folder else None
    found = envfile.search(
        envfile.candidates(start, HOME),
        fake_reader(existing, PurePosixPath),
        trusted=True,
    )
    candidate = found.chosen_candidate
    assert (str(candidate.path) if candidate else None) == chosen
    assert (candidate.project if candidate else None) == project


def test_candidates_are_walk_then_unvisited_home_files() -> None:
    assert [str(c.path) for c in envfile.candidates(PurePosixPath("/srv/p"), HOME)] == [
        "/srv/p/.qwen/.env",
        "/srv/p/.env",
        "/srv/.qwen/.env",
        "/srv/.env",
        "/.qwen/.env",
        "/.env",
        "/home/dev/.qwen/.env",
        "/home/dev/.env",
    ]
    inside = envfile.candidates(PurePosixPath("/home/dev/app"), HOME)
    assert [str(c.path) for c in inside].count("/home/dev/.qwen/.env") == 1
    assert [str(c.path) for c in inside][-2:] == ["/.qwen/.env", "/.env"]


def test_candidates_without_folder_are_home_files_only() -> None:
    found = envfile.candidates(None, HOME)
    assert [(str(c.path), c.project) for c in found] == [
        ("/home/dev/.qwen/.env", False),
        ("/home/dev/.env", False),
    ]


def test_B16_windows_drive_root_terminates() -> None:
    started = time.monotonic()
    found = envfile.candidates(
        PureWindowsPath(r"D:\proj\svc"), PureWindowsPath(r"C:\Users\dev")
    )
    assert [str(c.path) for c in found] == [
        r"D:\proj\svc\.qwen\.env",
        r"D:\proj\svc\.env",
        r"D:\proj\.qwen\.env",
        r"D:\proj\.env",
        r"D:\.qwen\.env",
        r"D:\.env",
        r"C:\Users\dev\.qwen\.env",
        r"C:\Users\dev\.env",
    ]
    reader = fake_reader({r"C:\Users\dev\.qwen\.env"}, PureWindowsPath)
    result = envfile.search(found, reader, trusted=True)
    assert result.chosen_candidate is not None
    assert str(result.chosen_candidate.path) == r"C:\Users\dev\.qwen\.env"
    assert time.monotonic() - started < 1


def test_B16_unc_walk_stops_at_share_root() -> None:
    found = envfile.candidates(
        PureWindowsPath(r"\\fileserver\share\proj"), PureWindowsPath(r"C:\Users\dev")
    )
    assert [str(c.path) for c in found] == [
        r"\\fileserver\share\proj\.qwen\.env",
        r"\\fileserver\share\proj\.env",
        r"\\fileserver\share\.qwen\.env",
        r"\\fileserver\share\.env",
        r"C:\Users\dev\.qwen\.env",
        r"C:\Users\dev\.env",
    ]


def test_B16_windows_home_matches_case_insensitively() -> None:
    found = envfile.candidates(
        PureWindowsPath(r"c:\users\DEV\app"), PureWindowsPath(r"C:\Users\dev")
    )
    assert [(str(c.path), c.project) for c in found][2] == (
        r"c:\users\DEV\.qwen\.env",
        False,
    )
    assert len(found) == 8  # the home files were visited by the walk, not added again


def test_first_file_only_no_merge(ws: Path, home: Path, run: Resolve) -> None:
    files(ws, home, {".env": "OPENAI_MODEL=from-project\n", "~/.qwen/.env": "X=1\n"})
    config = run(ws)
    assert config.env_file == ws / ".env"
    assert "X" not in config.env
    assert config.model.value == "from-project"


def test_walk_does_not_resolve_symlinks(
    tmp_path: Path, home: Path, run: Resolve
) -> None:
    real = tmp_path / "real" / "proj"
    write(tmp_path / "real" / ".env", "OPENAI_MODEL=real-parent\n")
    real.mkdir()
    write(tmp_path / "links" / ".env", "OPENAI_MODEL=link-parent\n")
    os.symlink(real, tmp_path / "links" / "proj")
    config = run(tmp_path / "links" / "proj")
    assert config.model.value == "link-parent"
    assert config.env_file == tmp_path / "links" / ".env"


@pytest.mark.parametrize(
    ("layout", "environ", "expected"),
    [
        pytest.param(
            {".qwen/.env": "OPENAI_MODEL=file\n"},
            {"OPENAI_MODEL": "process"},
            ("process", "process"),
            id="process-wins",
        ),
        pytest.param(
            {".qwen/.env": "OPENAI_MODEL=file\n"},
            {"OPENAI_MODEL": ""},
            ("file", "project"),
            id="empty-process-unset",
        ),
        pytest.param(
            {
                ".qwen/.env": "OPENAI_MODEL=file\n",
                ".qwen/settings.json": {"env": {"OPENAI_MODEL": "settings"}},
            },
            {},
            ("file", "project"),
            id="file-beats-settings-env",
        ),
        pytest.param(
            {"~/.qwen/settings.json": {"env": {"OPENAI_MODEL": "settings"}}},
            {},
            ("settings", "user"),
            id="settings-env-lowest",
        ),
        pytest.param(
            {
                ".qwen/.env": "OPENAI_MODEL=\n",
                "~/.qwen/settings.json": {"env": {"OPENAI_MODEL": "settings"}},
            },
            {},
            ("settings", "user"),
            id="empty-file-value-unset",
        ),
        pytest.param(
            {
                "~/.qwen/settings.json": {"env": {"OPENAI_MODEL": "user", "W": "w"}},
                ".qwen/settings.json": {"env": {"OPENAI_MODEL": "workspace"}},
            },
            {},
            ("workspace", "project"),
            id="settings-env-merges-per-key",
        ),
    ],
)
def test_variable_layers(
    ws: Path,
    home: Path,
    run: Resolve,
    layout: dict[str, str],
    environ: dict[str, str],
    expected: tuple[str, str],
) -> None:
    files(ws, home, layout)
    before = dict(os.environ)
    config = run(ws, environ={"OPENAI_API_KEY": "sk-test-0000", **environ})
    assert (config.model.value, config.model.source.level) == expected
    assert config.env["OPENAI_MODEL"] == expected[0]
    assert config.problems == []
    assert dict(os.environ) == before


def test_settings_env_keeps_keys_of_both_scopes(
    ws: Path, home: Path, run: Resolve
) -> None:
    files(
        ws,
        home,
        {
            "~/.qwen/settings.json": {"env": {"A": "user", "B": "user"}},
            ".qwen/settings.json": {"env": {"B": "workspace"}},
        },
    )
    config = run(ws)
    assert (config.env["A"], config.env["B"]) == ("user", "workspace")


def test_B07_empty_process_values_do_not_mask_the_file(ws: Path, run: Resolve) -> None:
    env = write(
        ws / ".qwen" / ".env",
        "OPENAI_API_KEY=sk-test-0000\nOPENAI_BASE_URL=http://127.0.0.1:8999/v1\n",
    )
    config = run(ws, environ={"OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""})
    assert config.api_key is not None
    assert config.api_key.value.get_secret_value() == "sk-test-0000"
    assert config.api_key.source.description == f"OPENAI_API_KEY in {env}"
    assert config.base_url is not None
    assert config.base_url.value == "http://127.0.0.1:8999/v1"
    assert config.base_url.source.description == f"OPENAI_BASE_URL in {env}"


def test_B07_empty_base_url_in_file_means_default(ws: Path, run: Resolve) -> None:
    write(ws / ".qwen" / ".env", "OPENAI_BASE_URL=\n")
    config = run(ws, environ={"OPENAI_API_KEY": "sk-test-0000"})
    assert config.base_url is not None
    assert config.base_url.value == "https://api.openai.com/v1"
    assert config.base_url.source.description == "default"
    assert config.api_key is not None
    assert config.api_key.source.description == "process environment OPENAI_API_KEY"
    assert config.problems == []


@pytest.mark.parametrize(
    ("where", "settings", "kept"),
    [
        pytest.param(".env", None, set(), id="project-env-excludes-debug"),
        pytest.param(
            ".qwen/.env", None, {"DEBUG", "DEBUG_MODE"}, id="project-qwen-env-exempt"
        ),
        pytest.param("~/.qwen/.env", None, {"DEBUG", "DEBUG_MODE"}, id="home-qwen-env"),
        pytest.param("~/.env", None, {"DEBUG", "DEBUG_MODE"}, id="home-env"),
        pytest.param(
            ".env",
            {"advanced": {"excludedEnvVars": ["DEBUG_MODE"]}},
            {"DEBUG"},
            id="list-replaces",
        ),
        pytest.param(
            ".env",
            {"advanced": {"excludedEnvVars": []}},
            {"DEBUG", "DEBUG_MODE"},
            id="empty-list",
        ),
    ],
)
def test_B11_debug_from_project_env(
    ws: Path,
    home: Path,
    run: Resolve,
    where: str,
    settings: dict[str, object] | None,
    kept: set[str],
) -> None:
    files(ws, home, {where: "DEBUG=true\nDEBUG_MODE=1\nOPENAI_API_KEY=sk-test-0000\n"})
    if settings is not None:
        files(ws, home, {"~/.qwen/settings.json": settings})
    config = run(ws)
    assert config.api_key is not None
    assert config.api_key.value.get_secret_value() == "sk-test-0000"
    assert {"DEBUG", "DEBUG_MODE"} & set(config.env) == kept
    assert "DEBUG" not in os.environ
    assert config.problems == []


NEVER = [
    "QWEN_OAUTH_BASE_URL",
    "QWEN_HOME",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
]


@pytest.mark.parametrize(
    "where", [".env", ".qwen/.env", "../.env"], ids=["env", "qwen-env", "parent"]
)
def test_never_applied_from_any_project_file(
    ws: Path, home: Path, run: Resolve, where: str
) -> None:
    body = "".join(f"{name}=/evil\n" for name in NEVER)
    files(ws, home, {where: body})
    files(ws, home, {"~/.qwen/settings.json": {"advanced": {"excludedEnvVars": []}}})
    config = run(ws, environ={"OPENAI_API_KEY": "sk-test-0000"})
    path = config.env_file
    assert path is not None
    assert not set(NEVER) & set(config.env)
    assert config.problems == [
        f"{name} in {path} is ignored: a project file may not set it (set it in the "
        "editor's environment or in a home .env file)"
        for name in NEVER
    ]


def test_never_applied_list_is_honoured_from_home_and_process(
    ws: Path, home: Path, run: Resolve
) -> None:
    write(home / ".qwen" / ".env", "QWEN_HOME=/h\nSSL_CERT_FILE=/ca.pem\n")
    config = run(ws, environ={"REQUESTS_CA_BUNDLE": "/proc.pem"})
    assert config.env["QWEN_HOME"] == "/h"
    assert config.env["SSL_CERT_FILE"] == "/ca.pem"
    assert config.env["REQUESTS_CA_BUNDLE"] == "/proc.pem"


def test_never_applied_from_workspace_settings_env(
    ws: Path, home: Path, run: Resolve
) -> None:
    files(ws, home, {".qwen/settings.json": {"env": {"SSL_CERT_FILE": "/evil"}}})
    config = run(ws, environ={"OPENAI_API_KEY": "sk-test-0000"})
    assert "SSL_CERT_FILE" not in config.env
    assert config.problems[0] == (
        f"env.SSL_CERT_FILE in {ws / '.qwen' / 'settings.json'} is ignored: a project "
        "file may not set SSL_CERT_FILE (set it in the editor's environment or a home "
        ".env file)"
    )


@pytest.mark.parametrize(
    ("layout", "key", "loaded"),
    [
        pytest.param(
            {"app/.env": "DATABASE_URL=postgres://db.test/app\n"},
            None,
            "app/.env",
            id="A-app-env-without-key",
        ),
        pytest.param(
            {"app/.env": "OPENAI_API_KEY=sk-app-1111\n"},
            "sk-app-1111",
            "app/.env",
            id="B",
        ),
        pytest.param(
            {
                "app/.env": "OPENAI_API_KEY=sk-app-1111\n",
                "app/.qwen/.env": "OPENAI_API_KEY=sk-test-0000\n",
            },
            "sk-test-0000",
            "app/.qwen/.env",
            id="C-qwen-env-beats-env",
        ),
    ],
)
def test_B12_first_file_wins(
    home: Path, run: Resolve, layout: dict[str, str], key: str | None, loaded: str
) -> None:
    files(home, home, layout)
    write(home / ".qwen" / ".env", "OPENAI_API_KEY=sk-test-0000\n")
    app = home / "app"
    config = run(app)
    assert config.env_file == home / loaded
    if key is not None:
        assert config.api_key is not None
        assert config.api_key.value.get_secret_value() == key
        assert config.api_key.source.description == f"OPENAI_API_KEY in {home / loaded}"
        return
    assert config.api_key is None
    assert config.problems == [
        f"OPENAI_API_KEY not set (workspace {app}): {app}/.qwen/.env absent → loaded "
        f"{app}/.env (no OPENAI_API_KEY) → stopped; {home}/.qwen/.env (which sets "
        "OPENAI_API_KEY) was not read because the first .env file found wins; create "
        f"{app}/.qwen/.env with OPENAI_API_KEY=<your key> (it is read first); or sign "
        "in "
        "with Qwen OAuth (the qwen.auth command, method qwen-oauth)"
    ]


def test_B12_hint_when_openai_selected(home: Path, run: Resolve) -> None:
    files(
        home,
        home,
        {"app/.qwen/.env": "OTHER=1\n", "~/.env": "OPENAI_API_KEY=sk-test-0000\n"},
    )
    app = home / "app"
    config = run(app, auth_type="openai")
    assert config.problems == [
        f"OPENAI_API_KEY not set (workspace {app}): loaded {app}/.qwen/.env (no "
        f"OPENAI_API_KEY) → stopped; {home}/.env (which sets OPENAI_API_KEY) was not "
        "read because the first .env file found wins; add OPENAI_API_KEY=<your key> "
        "to "
        f"{app}/.qwen/.env"
    ]


def test_B14_home_env_fallback_outside_home(ws: Path, home: Path, run: Resolve) -> None:
    write(home / ".env", "OPENAI_API_KEY=sk-test-0000\n")
    config = run(ws)
    assert config.api_key is not None
    assert config.api_key.value.get_secret_value() == "sk-test-0000"
    assert config.api_key.source.level == "user"
    assert config.env_file == home / ".env"


def test_B14_workspace_is_home_reads_each_file_once(
    home: Path, run: Resolve, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(home / ".qwen" / ".env", "OPENAI_API_KEY=sk-test-000A\n")
    write(home / ".env", "OPENAI_API_KEY=sk-test-000B\n")
    reads: list[Path] = []
    original = config_files.read_bytes
    monkeypatch.setattr(
        config_files, "read_bytes", lambda p: reads.append(p) or original(p)
    )
    config = run(home)
    assert config.api_key is not None
    assert config.api_key.value.get_secret_value() == "sk-test-000A"
    assert config.api_key.source.level == "user"
    assert config.workspace_settings_path is None
    assert config.problems == []
    assert len(reads) == len(set(reads))
    assert home / ".env" not in reads


def test_B23_env_path_is_a_directory(ws: Path, run: Resolve) -> None:
    (ws / ".qwen" / ".env").mkdir(parents=True)
    write(ws / ".env", "OPENAI_API_KEY=sk-test-0000\n")
    config = run(ws)
    assert config.env_file == ws / ".env"
    assert config.problems == [
        f"{ws / '.qwen' / '.env'} is a directory, not a file; ignored"
    ]


def test_B23_unreadable_env_file_search_goes_on(
    ws: Path, run: Resolve, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = write(ws / ".qwen" / ".env", "OPENAI_API_KEY=sk-test-0000\n")
    write(ws / ".env", "OPENAI_MODEL=fallback\n")
    original = config_files.read_bytes

    def read(path: Path) -> bytes:
        if path == locked:
            raise PermissionError(13, "Permission denied")
        return original(path)

    monkeypatch.setattr(config_files, "read_bytes", read)
    config = run(ws, environ={"OPENAI_API_KEY": "sk-test-0000"})
    assert config.env_file == ws / ".env"
    assert config.model.value == "fallback"
    assert config.problems == [
        f"cannot read {locked}: permission denied (check owner/permissions)"
    ]


@pytest.mark.parametrize("kind", ["fifo", "dev-zero-symlink", "huge"])
def test_B23_special_or_huge_env_files_are_skipped(
    ws: Path, run: Resolve, kind: str
) -> None:
    """A cloned repository can ship `.qwen/.env` as a FIFO (would block) or a symlink
    to /dev/zero (would never end); neither may hang or flood the server."""
    import os

    target = ws / ".qwen" / ".env"
    target.parent.mkdir(parents=True)
    if kind == "fifo":
        os.mkfifo(target)
        reason = "is not a regular file; ignored"
    elif kind == "dev-zero-symlink":
        target.symlink_to("/dev/zero")
        reason = "is not a regular file; ignored"
    else:
        target.write_bytes(b"# padding\n" * 200_000)
        reason = "is larger than 1024 KiB; ignored"
    write(ws / ".env", "OPENAI_MODEL=fallback\n")
    config = run(ws, environ={"OPENAI_API_KEY": "sk-test-0000"})
    assert config.env_file == ws / ".env"
    assert config.problems == [f"{target} {reason}"]
