"""Modules executed on first attribute access, with the standard library's
LazyLoader: the server answers `initialize` before it pays for pydantic and the
configuration models (the start row of `python -m benchmarks`)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def load_on_first_use(name: str) -> ModuleType:
    """The module `name`, run when one of its attributes is first read; the module
    itself where something has imported it already."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    # As `import a.b` would: `a.b` must also be reachable as an attribute of `a`.
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module
