"""What can be mined: commutative, associative reductions over index ranges.

The fingerprint (XOR of colours) is one; the colour games (exo_gay/games.py) are others.
Because each is a commutative monoid, any split of a range, computed in any order on any
machine, combines back to the value of the whole, and everything that moves work around
(runner, miners, coordinator) handles them alike.  A value travels as JSON (``to_wire``)
so two machines' results can be compared for equality as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .gayhy import ALGORITHMS
from .spi import MASK64, hex64


@dataclass(frozen=True)
class Reduction:
    name: str
    identity: Any
    # One contiguous piece on one core: (backend, seed, start, count, algorithm) -> value.
    piece: Callable[[Any, int, int, int, str], Any]
    combine: Callable[[Any, Any], Any]
    to_wire: Callable[[Any], Any]
    from_wire: Callable[[Any], Any]
    algorithms: tuple[str, ...] = ALGORITHMS


def _parse_hex(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        value = v
    elif isinstance(v, str) and v.lower().startswith("0x"):
        value = int(v, 16)
    else:
        raise ValueError(f"expected a 0x-hex string, got {v!r}")
    if not 0 <= value <= MASK64:
        raise ValueError(f"expected a 64-bit value, got {v!r}")
    return value


XOR = Reduction(
    name="xor",
    identity=0,
    piece=lambda backend, seed, start, count, algorithm: backend.xor_piece(seed, start, count, algorithm),
    combine=lambda a, b: a ^ b,
    to_wire=hex64,
    from_wire=_parse_hex,
)

_BUILTIN = {"xor": XOR}
# Games live in their own module (exo_gay/games.py), imported on first use so the fingerprint
# path stays light.  A game is named by a spec string that carries its parameters, e.g.
# "furthest" or "fixed(depth=64)", so one string identifies a reduction everywhere it travels.


def get_reduction(spec: str) -> Reduction:
    """The reduction for a spec string; KeyError (with the known names) if there is none."""
    if spec in _BUILTIN:
        return _BUILTIN[spec]
    from . import games

    return games.reduction_for(spec)  # raises KeyError/ValueError for unknown or malformed specs


def reduction_names() -> list[str]:
    from . import games

    return [*_BUILTIN, *games.NAMES]
