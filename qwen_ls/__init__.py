"""qwen-ls: a language server that brings the Qwen Code assistant into LSP editors."""

from __future__ import annotations

__version__ = "0.1.0"
