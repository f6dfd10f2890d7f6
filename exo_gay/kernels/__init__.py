"""Color backends: fast kernels behind one interface, each checked against spi.py before use.

A backend computes one contiguous piece of the index space on one core (or one device);
splitting over cores is the runner's job.  The interface has two families of pieces:
"xor" (``xor_piece``, the fingerprint) and "games" (``furthest_piece``, ``near_fixed_piece``,
``cycle_probe``).  Before a family of a backend is first used in a process it must give the
right answer on known-answer cases from spi.py; compilers do miscompile such loops, so a
backend that fails is refused, loudly.
"""

from __future__ import annotations

import importlib
import logging
import random
import threading
from typing import Any, Protocol

from .. import spi
from ..errors import InputError
from .reference import PythonReference

log = logging.getLogger(__name__)

# name -> (module, class).  Order is the order "auto" tries them in: fastest first.
_REGISTRY = {
    "numba-cpu": ("exo_gay.kernels.cpu", "NumbaCPUBackend"),  # the [fast] extra (in [mine], [nashprop])
    "numpy": ("exo_gay.kernels.numpy_cpu", "NumpyCPU"),  # the core install's
    "python": ("exo_gay.kernels.reference", "PythonReference"),
}
FAMILIES = ("xor", "games")
_instances: dict[str, Any] = {}
_passed: dict[tuple[int, str], Any] = {}  # (id(backend), family) -> backend, once it passed
_lock = threading.Lock()


class Backend(Protocol):
    name: str

    def xor_piece(self, seed: int, start: int, count: int, algorithm: str) -> int: ...

    def furthest_piece(self, seed: int, start: int, count: int) -> tuple[int, int, int] | None: ...

    def near_fixed_piece(self, seed: int, start: int, count: int) -> tuple[int, int, int] | None: ...

    def cycle_probe(self, h0: int, depth: int, mask: int = spi.MASK64) -> tuple[int, int] | None: ...


class BackendRefused(InputError, RuntimeError):
    """A backend that is unknown, missing here, or gave a wrong known answer."""


class BackendMissing(BackendRefused):
    """A backend whose libraries are not installed here (numba-cpu without the [fast] extra)."""


def backend_names() -> list[str]:
    return list(_REGISTRY)


def register_backend(name: str, module: str, cls: str, first: bool = False) -> None:
    """Make a backend selectable by name (GPU backends register here when present)."""
    global _REGISTRY
    if first:
        _REGISTRY = {name: (module, cls), **_REGISTRY}
    else:
        _REGISTRY[name] = (module, cls)


def get_backend(name: str = "auto", family: str = "xor") -> Backend:
    """The named backend with its ``family`` of pieces self-checked; "auto": the first that passes."""
    if name == "auto":
        for candidate in _REGISTRY:
            try:
                return get_backend(candidate, family)
            except BackendMissing as e:  # not installed (numba without its extra): not a failure
                log.info("%s; trying the next backend", e)
            except BackendRefused as e:
                log.warning("%s; trying the next backend", e)
        raise BackendRefused("no color backend passed its self-check")
    if name not in _REGISTRY:
        raise BackendRefused(f"unknown backend {name!r} (known: {', '.join(_REGISTRY)})")
    with _lock:
        if name not in _instances:
            module, cls = _REGISTRY[name]
            try:
                _instances[name] = getattr(importlib.import_module(module), cls)()
            except ImportError as e:
                fast = e.name in ("numba", "llvmlite")
                hint = "; pip install 'exo-gay[fast]' brings numba and llvmlite" if fast else ""
                raise BackendMissing(f"backend {name} is not available here ({e}){hint}") from None
    return checked(_instances[name], family)


def resolve(backend: "str | Backend", family: str = "xor") -> Backend:
    """A backend by name (get_backend) or an instance (checked), with ``family`` self-checked."""
    return get_backend(backend, family) if isinstance(backend, str) else checked(backend, family)


def checked(backend: Backend, family: str = "xor") -> Backend:
    """``backend`` itself, once its ``family`` of pieces passed the known-answer check in this process."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family of pieces {family!r} (known: {', '.join(FAMILIES)})")
    key = (id(backend), family)
    with _lock:
        if key not in _passed:
            failure = self_check(backend, family)
            if failure:
                raise BackendRefused(f"backend {backend.name} FAILED its known-answer self-check ({failure}); "
                                     f"refusing it")
            _passed[key] = backend
            log.debug("backend %s passed its %s self-check", backend.name, family)
    return backend


def known_answer_cases(family: str = "xor", rng: random.Random | None = None) -> list[tuple[str, tuple]]:
    """(method, arguments) cases that cover what kernels get wrong.

    Odd counts exercise vector tails; the top of the index space exercises wrap-around; the
    seed's zero-color index exercises the one color that is 0; a count over 4096 crosses a
    block of the games' two-pass scan; winners on a piece's first and last index catch a scan
    that skips an end; narrow masks give the cycle probe short cycles to find.
    """
    rng = rng or random.Random(0x6761795F)
    top = spi.INDEX_SPACE
    seed = spi.IHOR_SEED
    if family == "games":
        ranges = [(seed, 0, 300), (spi.GAY_SEED, 1 << 63, 4100), (1, top - 200, 200), (seed, 7, 0)]
        # Winners on the last and the first index of a piece: the color FURTHEST_TARGET itself,
        # and the nearest to a fixed point of [0, 5000) of the seed (index 709).
        target = ((spi.unmix(spi.FURTHEST_TARGET) - seed) * spi.GOLDEN_INV) & spi.MASK64
        edges = [(seed, target - 300, 301), (seed, target, 257)]
        return ([("furthest_piece", r) for r in ranges + edges]
                + [("near_fixed_piece", r) for r in ranges + [(seed, 409, 301), (seed, 709, 257)]]
                + [("cycle_probe", (12345, 300, 0xFFF)), ("cycle_probe", (5, 40, 0xFF)),
                   ("cycle_probe", (rng.getrandbits(64), 300, spi.MASK64))])
    zero = spi.zero_color_index(seed)
    xor = [
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
    return [("xor_piece", (s, a, n, algorithm)) for algorithm, s, a, n in xor]


def self_check(backend: Backend, family: str = "xor") -> str | None:
    """None if the backend agrees with spi.py on every known-answer case of ``family``, else what failed."""
    reference = PythonReference()
    for method, args in known_answer_cases(family):
        want = getattr(reference, method)(*args)
        try:
            got = getattr(backend, method)(*args)
        except Exception as e:  # a crash, or a missing method, is a failure like any other
            return f"{method}{_show(args)}: raised {e!r}"
        if got != want:
            return f"{method}{_show(args)}: got {_show(got)}, want {_show(want)}"
    return None


def _show(v: Any) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(_show(x) for x in v) + ")"
    return f"{v:#x}" if isinstance(v, int) and not isinstance(v, bool) else repr(v)
