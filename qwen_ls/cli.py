"""Command line: start the server, or use it from a terminal (`status`, `chat`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from qwen_ls import __version__

DESCRIPTION = """\
qwen-ls: the Qwen Code assistant in any LSP editor.

Without a subcommand, starts the language server (stdio by default). Each
workspace folder reads its own .qwen/.env and .qwen/settings.json, as the Qwen
Code CLI does.
"""

EPILOG = """\
subcommands:
  status [DIR] [--json]     show the configuration resolved for DIR and where
                            each value came from (secrets masked; offline)
  chat [--cwd DIR] [--file FILE] [--model M] PROMPT
                            ask once and stream the answer to stdout, through
                            a real server started as a subprocess
  login [--cwd DIR] [--method qwen-oauth|coding-plan|openai] [--api-key-stdin]
        [--base-url URL] [--model M] [--scope workspace|user]
                            sign in from a terminal (also over SSH: the address
                            and code to open on any device are printed)
  logout [--cwd DIR] [--scope workspace|user]
                            forget the credentials of a scope

examples:
  qwen-ls status
  qwen-ls chat "Explain what a language server is in one sentence"
  qwen-ls chat --file src/app.py "Find the bug in this file"
  qwen-ls login --method coding-plan --scope user --api-key-stdin < key.txt
"""


def _server_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qwen-ls",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--stdio", action="store_true", help="talk LSP over stdin/stdout (default)"
    )
    parser.add_argument("--tcp", action="store_true", help="listen on a TCP port")
    parser.add_argument("--host", default="127.0.0.1", help="TCP host (127.0.0.1)")
    parser.add_argument("--port", type=int, default=2087, help="TCP port (2087)")
    parser.add_argument(
        "--clientProcessId",
        type=int,
        metavar="PID",
        help="exit when this process (the editor) is gone",
    )
    _add_logging_flags(parser)
    parser.add_argument("--version", action="version", version=f"qwen-ls {__version__}")
    return parser


def _add_logging_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v: one line per request; -vv: debug, including LSP traffic",
    )
    parser.add_argument(
        "--log-file", metavar="PATH", help="write logs here instead of stderr"
    )


def _status_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qwen-ls status",
        description="Show the configuration qwen-ls resolves for DIR, with the "
        "source of every value. Secrets are masked. Works offline.",
    )
    parser.add_argument("dir", nargs="?", default=".", help="folder (default: .)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _chat_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qwen-ls chat",
        description="Ask once; the answer streams to stdout. Runs the real "
        "language server as a subprocess and talks LSP to it. Exits non-zero with "
        "a one-line reason on stderr when it cannot answer.",
    )
    parser.add_argument("prompt", nargs="+", help="the question")
    parser.add_argument(
        "--cwd", default=".", help="workspace folder whose configuration is used"
    )
    parser.add_argument("--file", help="send this file as context")
    parser.add_argument("--model", help="use this model instead of the configured one")
    parser.add_argument(
        "--reasoning",
        action="store_true",
        help="also print the model's reasoning (to stderr)",
    )
    _add_logging_flags(parser)
    return parser


def _login_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qwen-ls login",
        description="Sign in from a terminal, through a real server started as a "
        "subprocess; stores what an editor's sign-in would. For Qwen OAuth the "
        "address and code to open (on any device) are printed to stderr. An API "
        "key is read from stdin, never from the command line.",
    )
    parser.add_argument(
        "--cwd", default=".", help="workspace folder to sign in for (default: .)"
    )
    parser.add_argument(
        "--method",
        choices=["qwen-oauth", "coding-plan", "openai"],
        help="how to sign in (asked when omitted and stdin is a terminal)",
    )
    parser.add_argument(
        "--api-key-stdin",
        action="store_true",
        help="read the API key from stdin (else it is asked for without echo)",
    )
    parser.add_argument("--base-url", help="the endpoint for an API key")
    parser.add_argument("--model", help="the model to use with the key")
    parser.add_argument(
        "--scope",
        choices=["workspace", "user"],
        help="store for this folder (.qwen/ in it, the default) or for every "
        "folder (~/.qwen/); Qwen OAuth sign-ins are always per user",
    )
    _add_logging_flags(parser)
    return parser


def _logout_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qwen-ls logout",
        description="Forget stored credentials: the API keys of the scope, and "
        "with --scope user (or when the folder uses it) the Qwen OAuth sign-in.",
    )
    parser.add_argument("--cwd", default=".", help="workspace folder (default: .)")
    parser.add_argument(
        "--scope",
        choices=["workspace", "user"],
        help="workspace: keys in DIR/.qwen/; user: keys in ~/.qwen/ and the Qwen "
        "OAuth sign-in (default: workspace, and Qwen OAuth if the folder uses it)",
    )
    _add_logging_flags(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "status":
        return status_main(_status_parser().parse_args(argv[1:]))
    if argv and argv[0] == "chat":
        return chat_main(_chat_parser().parse_args(argv[1:]))
    if argv and argv[0] in ("login", "logout"):
        return auth_main(argv[0], argv[1:])
    return serve_main(_server_parser().parse_args(argv))


def serve_main(args: argparse.Namespace) -> int:
    from qwen_ls.log import setup_logging

    setup_logging(args.verbose, args.log_file)

    from qwen_ls.server import server

    if args.clientProcessId:
        _exit_when_gone(args.clientProcessId)
    if args.tcp:
        server.start_tcp(args.host, args.port)
    else:
        server.start_io()
    # LSP: `exit` (or the editor going away) without `shutdown` first ends with 1;
    # pygls computes that code but its loop swallows the SystemExit.
    return 0 if server.shutdown_received else 1


def _exit_when_gone(pid: int) -> None:
    def watch() -> None:
        while _alive(pid):
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="client-process-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def status_main(args: argparse.Namespace) -> int:
    from qwen_ls.auth.session import OAuthSession
    from qwen_ls.config import EditorSettings, resolve
    from qwen_ls.features import guard
    from qwen_ls.features.status import status_result
    from qwen_ls.log import redact

    folder = Path(os.path.abspath(args.dir))
    if not folder.is_dir():
        print(f"qwen-ls status: {folder} is not a directory", file=sys.stderr)
        return 2
    home = Path(os.environ.get("HOME") or Path.home())
    cfg = resolve(folder, editor=EditorSettings(), environ=os.environ, home=home)
    cfg = cfg.model_copy(update={"oauth": OAuthSession(home, os.environ).status()})
    result = status_result(cfg, folder.as_uri())
    hosts = guard.AllowedHosts(guard.allowed_hosts_path(home))
    if (consent := guard.consent_pending(cfg, hosts)) is not None:
        result["problems"].append(consent.pending())
    if args.json:
        print(redact(json.dumps(result, indent=2)))
        return 0
    print(redact(_format_status(result)))
    return 0


def _format_status(result: dict[str, Any]) -> str:
    sources = result["sources"]
    rows = [
        ("workspace", result["workspaceFolder"] or "(none)", None),
        ("trusted", "yes" if result.get("trusted", True) else "no", None),
        ("env file", result["envFile"] or "(none found)", None),
        ("auth type", result["authType"] or "(none)", sources.get("authType")),
        ("model", result["model"], sources.get("model")),
        ("base URL", result["baseUrl"] or "(none)", sources.get("baseUrl")),
        ("API key", result["apiKey"] or _no_key(result), sources.get("apiKey")),
        ("ready", "yes" if result["signedIn"] else "no", None),
    ]
    lines = []
    for name, value, source in rows:
        line = f"{name:<10} {value}"
        if source:
            line += f"    <- {source}"
        lines.append(line)
    if result["problems"]:
        lines.append("problems:")
        lines.extend(f"  - {p}" for p in result["problems"])
    return "\n".join(lines)


def _no_key(result: dict[str, Any]) -> str:
    if result["authType"] == "qwen-oauth":
        return "(a Qwen OAuth token, not shown)"
    return "(not set)"


def chat_main(args: argparse.Namespace) -> int:
    try:
        # Ctrl-C may come while this still loads (a second or so on a slow disk).
        from qwen_ls.terminal_chat import run_chat

        return asyncio.run(run_chat(args))
    except KeyboardInterrupt:
        print("\nqwen-ls chat: cancelled", file=sys.stderr)
        return 130


def auth_main(name: str, argv: list[str]) -> int:
    parser = _login_parser() if name == "login" else _logout_parser()
    args = parser.parse_args(argv)
    try:
        # As in chat_main: Ctrl-C may come while this still loads.
        from qwen_ls.terminal_auth import run_login, run_logout

        return asyncio.run(run_login(args) if name == "login" else run_logout(args))
    except KeyboardInterrupt:
        print(f"\nqwen-ls {name}: cancelled", file=sys.stderr)
        return 130
