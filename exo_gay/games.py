"""The mined color games (docs/games.md, games 1 and 2) as reductions.

- ``furthest``: the color with the fewest bits differing from spi.FURTHEST_TARGET.
- ``fixed(depth=D)``: the color nearest to a fixed point of mix (least popcount(mix(c) ^ c)),
  reported with a cycle probe along c, mix(c), mix(mix(c)), ...: does h_0..h_D repeat?

Each is an argmin with ties broken by the smaller index: a commutative monoid, so it mines
like the XOR fingerprint.  The pieces run on a backend (exo_gay.kernels, family "games").
"""

from __future__ import annotations

import functools
from typing import Any

from .errors import InputError
from .kernels import resolve
from .reductions import Reduction
from .spi import FURTHEST_TARGET, MASK64, hex64

NAMES = ("furthest", "fixed")
TARGET = FURTHEST_TARGET
DEFAULT_DEPTH = 1 << 20
MAX_DEPTH = 1 << 32  # a probe costs up to 3 * depth steps of mix

Candidate = tuple[int, int, int]  # (distance, index, color)


def argmin(a: Candidate | None, b: Candidate | None) -> Candidate | None:
    """The better of two candidates: (distance, index) decides; None is the identity."""
    # Equal (distance, index) means the same color, so this is a commutative, associative min.
    if a is None:
        return b
    if b is None:
        return a
    return a if a[:2] <= b[:2] else b


def candidate_to_wire(v: Candidate | None) -> dict | None:
    if v is None:
        return None
    return {"distance": v[0], "index": v[1], "color": hex64(v[2])}


def candidate_from_wire(w: Any, what: str) -> Candidate | None:
    if w is None:
        return None
    try:
        d, i, c = w["distance"], w["index"], w["color"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (d, i)):
            raise TypeError
        value = (d, i, int(c, 16) if isinstance(c, str) and c.lower().startswith("0x") else None)
    except (TypeError, KeyError, ValueError):
        raise InputError(f"malformed {what} value: {w!r}") from None
    if value[2] is None or not 0 <= d <= 64 or not 0 <= i <= MASK64 or not 0 <= value[2] <= MASK64:
        raise InputError(f"malformed {what} value: {w!r}")
    return value


FURTHEST = Reduction(
    name="furthest",
    identity=None,
    piece=lambda backend, seed, start, count, algorithm: backend.furthest_piece(seed, start, count),
    combine=argmin,
    to_wire=candidate_to_wire,
    from_wire=lambda w: candidate_from_wire(w, "furthest"),
    algorithms=("canonical",),
    family="games",
)


@functools.lru_cache(maxsize=64)
def cycle_probe(h0: int, depth: int, backend: Any = "auto") -> tuple[int, int] | None:
    """(tail, length) if the chain from h0 repeats within ``depth`` steps, else None (spi.cycle_within)."""
    return resolve(backend, "games").cycle_probe(h0, depth)


def fixed_cycle(value: Candidate | None, depth: int, backend: Any = "auto") -> dict | None:
    """The cycle probe of a fixed-game winner, as it appears on the wire."""
    cyc = cycle_probe(value[2], depth, backend)
    return None if cyc is None else {"tail": cyc[0], "length": cyc[1]}


def fixed_to_wire(v: Candidate | None, depth: int) -> dict | None:
    """The wire form of a fixed-game value, with the winner's cycle probe.

    The probe depends only on the winning color and the depth, so it is run once per
    reported value, not once per piece.
    """
    w = candidate_to_wire(v)
    if w is not None:
        w["cycle"] = fixed_cycle(v, depth)
    return w


@functools.lru_cache(maxsize=32)
def fixed(depth: int = DEFAULT_DEPTH) -> Reduction:
    """The fixed game probing cycles to ``depth``; its name is its canonical spec."""
    if not 1 <= depth <= MAX_DEPTH:
        raise InputError(f"game fixed: depth must be in [1, {MAX_DEPTH}], got {depth}")
    return Reduction(
        name=f"fixed(depth={depth})",
        identity=None,
        piece=lambda backend, seed, start, count, algorithm: backend.near_fixed_piece(seed, start, count),
        combine=argmin,
        to_wire=lambda v: fixed_to_wire(v, depth),
        from_wire=lambda w: candidate_from_wire(w, "fixed"),  # "cycle" is derived: not trusted, recomputed
        algorithms=("canonical",),
        family="games",
    )
