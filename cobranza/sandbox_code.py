"""Compile the workflow modules once per worker process, not once per workflow run.

Temporal's sandbox imports the workflow modules afresh for every workflow run it starts (and for
every replay after a cache eviction), so runs never share module state. The import reads the
module's .pyc when there is one; under PYTHONDONTWRITEBYTECODE (the Dockerfile sets it) there
never is, and every run compiled workflows/collection.py again: ~15 ms, about a tenth of the
worker's CPU in bench/steps.py. The finder below hands the import the code object compiled from
the same source bytes last time. The module is still executed afresh on every import, so runs stay
as isolated as before; only the compile step is shared.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Iterable, Sequence
from types import CodeType, ModuleType
from typing import Any

# Source path -> (source bytes, code compiled from them).
_compiled: dict[str, tuple[bytes, CodeType]] = {}


class _CachingSourceLoader(importlib.machinery.SourceFileLoader):
    def source_to_code(  # type: ignore[override]
        self, data: bytes, path: str, *, _optimize: int = -1
    ) -> CodeType:
        cached = _compiled.get(path)
        if cached is not None and cached[0] == data:
            return cached[1]
        code: CodeType = super().source_to_code(data, path, _optimize=_optimize)
        _compiled[path] = (bytes(data), code)
        return code


class _WorkflowCodeFinder(importlib.abc.MetaPathFinder):
    """Finds the named top-level packages' modules as usual, loading them with the cache."""

    def __init__(self, packages: frozenset[str]) -> None:
        self.packages = packages

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in self.packages:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = _CachingSourceLoader(spec.loader.name, spec.loader.path)
        return spec


def cache_workflow_code(workflow_classes: Iterable[type[Any]]) -> None:
    """Share compiled code of these workflows' packages across sandboxed runs (idempotent)."""
    packages = frozenset(cls.__module__.partition(".")[0] for cls in workflow_classes)
    for finder in sys.meta_path:
        if isinstance(finder, _WorkflowCodeFinder):
            finder.packages |= packages
            return
    sys.meta_path.insert(0, _WorkflowCodeFinder(packages))
