"""The credential/host guard: which key and base URL sources need the user's consent,
and the file where allowed hosts are kept."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path
from typing import Any

import pytest

from qwen_ls.features import guard
from tests.config.helpers import Resolve, files, write

USER = "~/.qwen/settings.json"
WS = ".qwen/settings.json"
URL = "https://gw.test/v1"


@pytest.mark.parametrize(
    ("layout", "environ", "editor", "expected"),
    [
        pytest.param(
            {".qwen/.env": f"OPENAI_API_KEY=sk-test-0000\nOPENAI_BASE_URL={URL}\n"},
            {},
            {},
            None,
            id="key-and-url-from-project-env",
        ),
        pytest.param(
            {".qwen/.env": f"OPENAI_BASE_URL={URL}\n"},
            {"OPENAI_API_KEY": "sk-test-0000"},
            {},
            (
                "gw.test:443",
                "OPENAI_BASE_URL in {ws}/.qwen/.env",
                "the editor's environment",
            ),
            id="process-key-project-env-url",
        ),
        pytest.param(
            {".env": f"OPENAI_BASE_URL={URL}\n"},
            {},
            {"openai_api_key": "sk-test-0000"},
            (
                "gw.test:443",
                "OPENAI_BASE_URL in {ws}/.env",
                "initializationOptions qwen.openaiApiKey",
            ),
            id="editor-key-project-dotenv-url",
        ),
        pytest.param(
            {
                "~/.qwen/.env": "OPENAI_API_KEY=sk-test-0000\n",
                WS: {"security": {"auth": {"baseUrl": "http://127.0.0.1:8000/v1"}}},
            },
            {},
            {},
            (
                "127.0.0.1:8000",
                "security.auth.baseUrl in {ws}/.qwen/settings.json",
                "OPENAI_API_KEY in {home}/.qwen/.env",
            ),
            id="home-env-key-workspace-url-loopback-still-asks",
        ),
        pytest.param(
            {
                USER: {"security": {"auth": {"apiKey": "sk-test-0000"}}},
                WS: {
                    "model": {"name": "p"},
                    "modelProviders": {"openai": [{"id": "p", "baseUrl": URL}]},
                },
            },
            {},
            {},
            (
                "gw.test:443",
                "modelProviders.openai[0].baseUrl in {ws}/.qwen/settings.json",
                "security.auth.apiKey in {home}/.qwen/settings.json",
            ),
            id="user-settings-key-workspace-provider-url",
        ),
        pytest.param(
            {
                WS: {
                    "model": {"name": "p"},
                    "modelProviders": {
                        "openai": [{"id": "p", "envKey": "AWS_SECRET", "baseUrl": URL}]
                    },
                }
            },
            {"AWS_SECRET": "sk-test-0000"},
            {},
            (
                "gw.test:443",
                "modelProviders.openai[0].baseUrl in {ws}/.qwen/settings.json",
                "the editor's environment",
            ),
            id="workspace-provider-naming-a-user-variable",
        ),
        pytest.param(
            {WS: {"env": {"OPENAI_API_KEY": "sk-test-0000", "OPENAI_BASE_URL": URL}}},
            {},
            {},
            None,
            id="key-and-url-from-workspace-settings-env",
        ),
        pytest.param(
            {USER: {"security": {"auth": {"baseUrl": URL}}}},
            {"OPENAI_API_KEY": "sk-test-0000"},
            {},
            None,
            id="user-url",
        ),
        pytest.param(
            {".qwen/.env": "OPENAI_BASE_URL=https://p.test/v1\n"},
            {"OPENAI_API_KEY": "sk-test-0000"},
            {"openai_base_url": URL},
            None,
            id="editor-url-beats-project",
        ),
        pytest.param(
            {".qwen/.env": "OPENAI_BASE_URL=http://127.0.0.1:8000/v1\n"},
            {},
            {},
            None,
            id="no-key-nothing-to-protect",
        ),
        pytest.param(
            {
                ".qwen/.env": "GW=https://evil.test\n",
                USER: {
                    "model": {"name": "p"},
                    "modelProviders": {"openai": [{"id": "p", "baseUrl": "${GW}/v1"}]},
                },
            },
            {"OPENAI_API_KEY": "sk-test-0000"},
            {},
            (
                "evil.test:443",
                "modelProviders.openai[0].baseUrl in {home}/.qwen/settings.json, expanded with variables from {ws}/.qwen/.env",
                "the editor's environment",
            ),
            id="user-url-expanded-with-project-variable",
        ),
        pytest.param(
            {USER: {"security": {"auth": {"baseUrl": "${GW}/v1"}}}},
            {"OPENAI_API_KEY": "sk-test-0000", "GW": "https://gw.test"},
            {},
            None,
            id="user-url-expanded-with-process-variable",
        ),
    ],
)
def test_consent_needed(
    ws: Path,
    home: Path,
    run: Resolve,
    layout: dict[str, Any],
    environ: dict[str, str],
    editor: dict[str, str],
    expected: tuple[str, str, str] | None,
) -> None:
    files(ws, home, layout)
    cfg = run(ws, environ=environ, **editor)
    consent = guard.consent_needed(cfg)
    if expected is None:
        assert consent is None
        return
    assert consent is not None
    found = (consent.host, consent.url_source, consent.key_source)
    assert found == tuple(x.format(ws=ws, home=home) for x in expected)
    assert consent.folder == ws


def test_untrusted_folder_files_need_no_consent(
    ws: Path, home: Path, run: Resolve
) -> None:
    files(
        ws,
        home,
        {
            ".qwen/.env": f"OPENAI_BASE_URL={URL}\n",
            USER: {"security": {"folderTrust": {"enabled": True}}},
        },
    )
    cfg = run(ws, environ={"OPENAI_API_KEY": "sk-test-0000"})
    assert cfg.trusted is False
    assert guard.consent_needed(cfg) is None


def test_no_folder_needs_no_consent(home: Path, run: Resolve) -> None:
    cfg = run(None, environ={"OPENAI_API_KEY": "sk-test-0000", "OPENAI_BASE_URL": URL})
    assert guard.consent_needed(cfg) is None


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://GW.test/v1", "gw.test:443"),
        ("http://gw.test/v1", "gw.test:80"),
        ("http://user:pw@127.0.0.1:8999/v1?x=1", "127.0.0.1:8999"),
        ("http://[::1]:8000/v1", "[::1]:8000"),
    ],
)
def test_host_of(url: str, host: str) -> None:
    assert guard.host_of(url) == host


def test_allowed_hosts_file(tmp_path: Path) -> None:
    path = tmp_path / ".qwen" / guard.ALLOWED_HOSTS_NAME
    hosts = guard.AllowedHosts(path)
    assert not hosts.allowed(Path("/w/a"), "gw.test:443")

    hosts.allow(Path("/w/a"), "gw.test:443")
    hosts.allow(Path("/w/a"), "gw.test:443")
    hosts.allow(Path("/w/b"), "127.0.0.1:80")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "version": 1,
        "folders": {"/w/a": ["gw.test:443"], "/w/b": ["127.0.0.1:80"]},
    }
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temp file left"

    again = guard.AllowedHosts(path)
    assert again.allowed(Path("/w/a"), "gw.test:443")
    assert not again.allowed(Path("/w/b"), "gw.test:443"), "per folder"
    assert not again.allowed(Path("/w/a"), "gw.test:8443"), "per port"

    path.unlink()
    assert not again.allowed(Path("/w/a"), "gw.test:443"), "deleting the file revokes"


def test_allowed_hosts_file_broken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / guard.ALLOWED_HOSTS_NAME, '{"folders": {"/w/a": ["h:1"]')
    hosts = guard.AllowedHosts(path)
    with caplog.at_level(logging.WARNING, logger="qwen_ls"):
        for _ in range(3):
            assert not hosts.allowed(Path("/w/a"), "h:1")
    assert len(caplog.records) == 1, "said once, not on every check"


def test_allowed_in_session_when_not_writable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = write(tmp_path / "file", "")
    hosts = guard.AllowedHosts(blocked / guard.ALLOWED_HOSTS_NAME)
    with caplog.at_level(logging.WARNING, logger="qwen_ls"):
        hosts.allow(Path("/w/a"), "h:1")
    assert hosts.allowed(Path("/w/a"), "h:1")
    assert "in this session only" in caplog.text


def test_messages_name_host_file_and_fix(ws: Path, run: Resolve) -> None:
    write(ws / ".qwen" / ".env", f"OPENAI_BASE_URL={URL}\n")
    cfg = run(ws, environ={"OPENAI_API_KEY": "sk-test-0000"})
    consent = guard.consent_needed(cfg)
    assert consent is not None
    env = ws / ".qwen" / ".env"
    assert consent.refusal("you answered Don't allow") == (
        f"workspace {ws}: not sending your API key (the editor's environment) to "
        f"gw.test:443, which OPENAI_BASE_URL in {env} chose: you answered Don't "
        "allow. To allow it, run the chat again and answer Allow, or add "
        f'"gw.test:443" to the list for "{ws}" under "folders" in '
        "~/.qwen/qwen-ls-allowed-hosts.json; or put a key for that host in the "
        "project's own .qwen/.env, or remove the base URL from the project"
    )
    assert "sk-test" not in consent.question() + consent.pending()
