"""load_on_first_use: a module that runs when first read, and is then the module."""

from __future__ import annotations

import subprocess
import sys

import pytest

from qwen_ls.lazy import load_on_first_use


def test_a_module_runs_on_first_attribute_read_and_is_reachable_from_its_parent() -> (
    None
):
    code = (
        "import sys\n"
        "from qwen_ls.lazy import load_on_first_use\n"
        "status = load_on_first_use('qwen_ls.features.status')\n"
        "print('pydantic' in sys.modules)\n"
        "name = status.QWEN_OAUTH\n"
        "print('pydantic' in sys.modules, type(status).__name__)\n"
        "import qwen_ls.features\n"
        "print(qwen_ls.features.status is status is sys.modules[status.__name__])\n"
        "print(load_on_first_use('qwen_ls.features.status') is status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == ["False", "True module", "True", "True"]


def test_an_unknown_module_is_an_error_at_once() -> None:
    with pytest.raises(ModuleNotFoundError) as raised:
        load_on_first_use("qwen_ls.no_such_module")
    assert raised.value.name == "qwen_ls.no_such_module"
