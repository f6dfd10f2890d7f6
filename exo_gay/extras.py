"""Optional libraries by product: which extra brings what, and one clear line when one is missing.

The core install (`pip install exo-gay`) is numpy, rich and pydantic: the spec, the planner,
the `gay` strategy, the exo plugin, `partition`, `fingerprint` and the games (numpy backend).
A command that needs more calls :func:`require` before its first import of such a library, so
a missing extra is one line naming it and the pip command (exit 2), never a traceback.
"""

from __future__ import annotations

import importlib

from .errors import InputError

# import name -> the distribution that provides it
DISTRIBUTIONS = {"numba": "numba", "llvmlite": "llvmlite", "grpc": "grpcio", "google.protobuf": "protobuf",
                 "nacl": "PyNaCl", "zenoh": "eclipse-zenoh"}
# extra -> the imports its commands cannot run without (pyproject.toml's lists, less the speed-ups)
EXTRAS = {
    "mine": ("grpc", "google.protobuf", "nacl"),  # exo-gay mine, serve, keygen (key pairs)
    "nashprop": ("zenoh", "nacl"),                # exo-gay nashprop
    "fast": ("numba", "llvmlite"),               # the numba-cpu backend (llvmlite fingerprint, numba games)
}


class MissingExtra(InputError):
    """A command's optional libraries are not installed: names the extra and the pip command."""

    def __init__(self, extra: str, missing: list[str]):
        self.extra, self.missing = extra, missing
        super().__init__(f"needs the [{extra}] extra ({', '.join(missing)} not installed): "
                         f"pip install 'exo-gay[{extra}]'")


def missing(extra: str, modules: tuple[str, ...] | None = None) -> list[str]:
    """The distributions of ``extra`` (or just ``modules`` of it) that do not import here."""
    out = []
    for name in modules or EXTRAS[extra]:
        try:
            importlib.import_module(name)
        except ImportError:
            out.append(DISTRIBUTIONS[name])
    return out


def require(extra: str, *modules: str) -> None:
    """Raise MissingExtra unless every library of ``extra`` (or only ``modules``) imports."""
    gone = missing(extra, modules or None)
    if gone:
        raise MissingExtra(extra, gone)
