"""The baseline: a pygls language server that does nothing, started like qwen-ls
(stdio, default logging). Its one command answers null at once."""

from __future__ import annotations

from typing import Any

from pygls.lsp.server import LanguageServer

server = LanguageServer("minimal", "0")


@server.command("minimal.noop")
def noop(ls: LanguageServer, *args: Any) -> None:
    return None


if __name__ == "__main__":
    server.start_io()
