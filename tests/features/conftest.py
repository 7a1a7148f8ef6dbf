"""Fixtures for feature tests: the configuration fixtures (a workspace folder, a
resolver bound to the test HOME) reused."""

from __future__ import annotations

from tests.config.conftest import run, ws

__all__ = ["run", "ws"]
