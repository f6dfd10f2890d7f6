"""This host as the library reads it: the CPU's model and flags, and exo-gay's cache folder.

Standard library only: the core (the strategy's machine measurement), the bench and the compiled
kernels all read them here.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


def _cpuinfo_field(names: tuple[str, ...]) -> str | None:
    """The first /proc/cpuinfo line starting with one of ``names``, after its colon (None: no such line)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((ln.partition(":")[2].strip() for ln in f if ln.startswith(names)), None)
    except OSError:
        return None


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what the platform says."""
    return _cpuinfo_field(("model name",)) or platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """This CPU's flags (/proc/cpuinfo; empty where there is none)."""
    return set((_cpuinfo_field(("flags", "Features")) or "").split())


def cache_root() -> Path:
    """exo-gay's cache, outside site-packages: $EXO_GAY_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/exo-gay."""
    base = os.environ.get("EXO_GAY_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "exo-gay")
    return Path(base)
