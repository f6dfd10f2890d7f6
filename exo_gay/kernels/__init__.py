"""Colour backends: fast kernels behind one interface, each proven equal to spi.py.

A backend reduces one contiguous piece of the index space on one core (or one device):
``xor_piece(seed, start, count, algorithm) -> int``.  Splitting over cores is the runner's
job (exo_gay/runner.py).  Before a backend is first used in a process it must pass a quick
known-answer check against the pure-Python reference; compilers do miscompile such loops
(GCC 12 -O3 -mavx2 was seen returning 0), so one that fails is refused, loudly.
"""

from __future__ import annotations

import importlib
import random
import sys
import threading
from typing import Protocol

from .. import spi
from .reference import PythonReference

# name -> (module, class).  Order is the order "auto" tries them in: fastest first.
_REGISTRY = {
    "numba-cpu": ("exo_gay.kernels.numba_cpu", "NumbaCPU"),
    "python": ("exo_gay.kernels.reference", "PythonReference"),
}
_checked: dict[str, "Backend"] = {}
_lock = threading.Lock()


class Backend(Protocol):
    name: str
    device: str

    def xor_piece(self, seed: int, start: int, count: int, algorithm: str) -> int: ...


class BackendRefused(RuntimeError):
    """A backend that is missing or gave a wrong known answer."""


def backend_names() -> list[str]:
    return list(_REGISTRY)


def register_backend(name: str, module: str, cls: str, first: bool = False) -> None:
    """Make a backend selectable by name (GPU backends register here when present)."""
    global _REGISTRY
    if first:
        _REGISTRY = {name: (module, cls), **_REGISTRY}
    else:
        _REGISTRY[name] = (module, cls)


def get_backend(name: str = "auto") -> Backend:
    """The named backend, self-checked once per process; "auto" takes the first that passes."""
    if name == "auto":
        for candidate in _REGISTRY:
            try:
                return get_backend(candidate)
            except BackendRefused as e:
                sys.stderr.write(f"exo-gay: warning: {e}; trying the next backend\n")
        raise BackendRefused("no colour backend passed its self-check")
    if name not in _REGISTRY:
        raise BackendRefused(f"unknown backend {name!r} (known: {', '.join(_REGISTRY)})")
    with _lock:
        if name not in _checked:
            module, cls = _REGISTRY[name]
            try:
                backend = getattr(importlib.import_module(module), cls)()
            except ImportError as e:
                raise BackendRefused(f"backend {name} is not available here: {e}") from None
            failure = self_check(backend)
            if failure:
                raise BackendRefused(f"backend {name} FAILED its known-answer self-check ({failure}); refusing it")
            _checked[name] = backend
        return _checked[name]


def known_answer_cases(rng: random.Random | None = None) -> list[tuple[str, int, int, int]]:
    """(algorithm, seed, start, count) cases that cover what kernels get wrong.

    Odd counts exercise vector tails; the top of the index space exercises wrap-around;
    the seed's zero-colour index exercises the one colour that is 0.
    """
    rng = rng or random.Random(0x6761795F)
    top = spi.INDEX_SPACE
    seed = spi.IHOR_SEED
    zero = spi.zero_color_index(seed)
    cases = [
        ("canonical", 0, 0, 1),
        ("canonical", seed, 0, 1000),
        ("canonical", seed, 12345, 37),
        ("canonical", spi.GAY_SEED, top - 1000, 1000),
        ("canonical", spi.MASK64, top - 1, 1),
        ("canonical", seed, max(0, zero - 300), 601),
        ("canonical", rng.getrandbits(64), rng.getrandbits(64) >> 1, 257),
        ("canonical", seed, 7, 0),
        ("gayhy-turbo32", seed, 0, 1000),
        ("gayhy-turbo32", seed, (1 << 32) - 333, 333),
        ("gayhy-turbo32", rng.getrandbits(64), 99, 129),
    ]
    return cases


def reference_xor(algorithm: str, seed: int, start: int, count: int) -> int:
    """The known answer: the pure-Python backend (spi.py, gayhy.py) on one core."""
    return PythonReference().xor_piece(seed, start, count, algorithm)


def self_check(backend: Backend) -> str | None:
    """None if the backend agrees with spi.py on every known-answer case, else what failed."""
    for algorithm, seed, start, count in known_answer_cases():
        want = reference_xor(algorithm, seed, start, count)
        try:
            got = backend.xor_piece(seed, start, count, algorithm)
        except Exception as e:  # a crash is a failure like any other
            return f"{algorithm} seed={seed:#x} start={start:#x} count={count}: raised {e!r}"
        if got != want:
            return f"{algorithm} seed={seed:#x} start={start:#x} count={count}: got {got:#x}, want {want:#x}"
    return None
