"""Startup hook: `EXO_PARTITIONING_STRATEGY=gay python -m exo.main ...` selects the gay strategy.

The package's .pth file imports this module only when that variable is "gay"; it then puts
a finder on sys.meta_path that installs the plugin just before exo.main (or exe.main) loads.
"""

from __future__ import annotations

import importlib.util
import os
import sys

ENV = "EXO_PARTITIONING_STRATEGY"
VALUE = "gay"
WATCHED = ("exo.main", "exe.main")


def wanted(environ=os.environ) -> bool:
    return environ.get(ENV, "").strip().lower() == VALUE


def _exo_v1() -> bool:
    """exo v1 (exo-explore/exo since Dec 2025: the master places instances), not legacy exo."""
    try:
        return importlib.util.find_spec("exo.master.placement") is not None
    except (ImportError, ValueError):
        return False


class ExoMainFinder:
    """Never finds anything itself; installs the plugin just before exo.main is loaded."""

    def find_spec(self, name, path=None, target=None):
        if name in WATCHED:
            sys.meta_path[:] = [f for f in sys.meta_path if f is not self]
            if name == "exo.main" and _exo_v1():
                from exo_gay.exov1 import adapter  # exo v1: its master places; patch that

                adapter.install()
                return None
            from exo_gay import exo_plugin  # imports exo's submodules, never exo.main

            exo_plugin.install(name.split(".", 1)[0])
        return None


def activate() -> bool:
    """Put the finder in place when the variable asks for it; True if it did."""
    if not wanted() or any(isinstance(f, ExoMainFinder) for f in sys.meta_path):
        return False
    sys.meta_path.insert(0, ExoMainFinder())
    return True


activate()
