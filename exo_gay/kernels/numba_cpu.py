"""numba for the game kernels: the one jitted SplitMix64 finaliser, and a cache outside site-packages.

numba caches compiled code beside the module by default, i.e. inside site-packages, where it
outlives ``pip uninstall``.  ``cached_njit`` points the cache of our functions (only ours:
numba's setting is restored after each decoration) at ``hostinfo.cache_root() / "numba"``,
unless the user chose a folder with NUMBA_CACHE_DIR.
"""

from __future__ import annotations

import contextlib

import numpy as np
from numba import njit
from numba.core import config

from ..hostinfo import cache_root
from ..spi import MIX1, MIX2

_M1 = np.uint64(MIX1)
_M2 = np.uint64(MIX2)
_S27, _S30, _S31 = np.uint64(27), np.uint64(30), np.uint64(31)


@contextlib.contextmanager
def _our_cache_dir():
    if config.CACHE_DIR:  # the user's NUMBA_CACHE_DIR wins
        yield
        return
    config.CACHE_DIR = str(cache_root() / "numba")
    try:
        yield
    finally:
        config.CACHE_DIR = ""


def cached_njit(*args, **kwargs):
    """``numba.njit(*args, cache=True, **kwargs)`` with the cache in our folder (see above)."""
    def wrap(fn):
        with _our_cache_dir():
            return njit(*args, cache=True, **kwargs)(fn)
    return wrap


@cached_njit(nogil=True, inline="always")
def _finalise(z):  # pragma: no cover - compiled
    # SplitMix64's finaliser on a state that already holds mix's own "+ GOLDEN".
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)
