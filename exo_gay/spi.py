"""The color protocol and the color games in plain Python: the specification in code.

Slow and obvious on purpose: every backend is checked against these functions, and the
tests draw their known answers from here.  All arithmetic is on unsigned 64-bit integers.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Iterator

MASK64 = (1 << 64) - 1
INDEX_SPACE = 1 << 64  # indices i live in [0, 2**64)

GOLDEN = 0x9E3779B97F4A7C15  # golden ratio * 2**64, SplitMix64's gamma
MIX1 = 0xBF58476D1CE4E5B9  # SplitMix64 multiplier 1
MIX2 = 0x94D049BB133111EB  # SplitMix64 multiplier 2
GOLDEN_INV = pow(GOLDEN, -1, INDEX_SPACE)  # GOLDEN is odd, so it has an inverse mod 2**64
MIX1_INV = pow(MIX1, -1, INDEX_SPACE)
MIX2_INV = pow(MIX2, -1, INDEX_SPACE)

IHOR_SEED = 7202985  # the seed of every published figure
GAY_SEED = 0x6761795F636F6C6F  # b"gay_colo"

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3

MESH_PORT = 42069  # gay.hy's mesh port (UDP there); kept as our default miner port


class Polarity(IntEnum):
    """The triad.  In a model: attention, norm, feed-forward."""

    MINUS = 0
    ERGODIC = 1
    PLUS = 2


TWISTS = {
    Polarity.MINUS: 0x2D2D2D2D2D2D2D2D,  # "--------"
    Polarity.ERGODIC: 0x5F5F5F5F5F5F5F5F,  # "________"
    Polarity.PLUS: 0x2B2B2B2B2B2B2B2B,  # "++++++++"
}


def mix(x: int) -> int:
    """One full SplitMix64 step (the ``+ GOLDEN`` is part of it)."""
    z = (x + GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * MIX1) & MASK64
    z = ((z ^ (z >> 27)) * MIX2) & MASK64
    return z ^ (z >> 31)


def unmix(c: int) -> int:
    """The inverse of :func:`mix`: ``unmix(mix(x)) == x`` for every 64-bit x."""
    z = _unxorshift(c & MASK64, 31)
    z = _unxorshift((z * MIX2_INV) & MASK64, 27)
    z = _unxorshift((z * MIX1_INV) & MASK64, 30)
    return (z - GOLDEN) & MASK64


def _unxorshift(y: int, shift: int) -> int:
    # x ^ (x >> s) is invertible: the top s bits are unchanged, each pass fixes s more.
    x = y
    for _ in range(64 // shift + 1):
        x = y ^ (x >> shift)
    return x & MASK64


def color_at(seed: int, i: int) -> int:
    """The color of index ``i`` of ``seed``: ``mix(seed + i * GOLDEN)``."""
    check_u64("seed", seed)
    check_u64("index", i)
    return mix((seed + i * GOLDEN) & MASK64)


def xor_range(seed: int, start: int, count: int) -> int:
    """The fingerprint of [start, start + count): the XOR of its colors.

    O(count) in pure Python: for reference and known answers only.
    """
    check_range(start, count)
    acc = 0
    x = (seed + start * GOLDEN) & MASK64
    for _ in range(count):
        acc ^= mix(x)
        x = (x + GOLDEN) & MASK64
    return acc


def zero_color_index(seed: int) -> int:
    """The one index whose color is 0 (mix is a bijection, so there is exactly one)."""
    return ((-GOLDEN - seed) * GOLDEN_INV) & MASK64


def fnv1a(s: str | bytes) -> int:
    """64-bit FNV-1a over the UTF-8 bytes of ``s``."""
    data = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return h


def polarity(hostname: str) -> Polarity:
    """The polarity of a host: fnv1a(hostname) % 3."""
    return Polarity(fnv1a(hostname) % 3)


def twisted_seed(seed: int, p: Polarity | int) -> int:
    """The per-polarity stream seed: seed ^ TWIST[p]."""
    return seed ^ TWISTS[Polarity(p)]


def derivation_chain(seed: int, depth: int) -> Iterator[tuple[int, int, Polarity]]:
    """Yield (d, h_d, owner) for d in [0, depth): h_0 = seed, h_{d+1} = mix(h_d).

    Depth d is owned by polarity d % 3.
    """
    h = seed & MASK64
    for d in range(depth):
        yield d, h, Polarity(d % 3)
        h = mix(h)


# ---------------------------------------------------------------- the color games (docs/games.md)

FURTHEST_TARGET = fnv1a("gay") ^ MASK64  # "furthest from gay": every bit of fnv1a("gay") flipped


def popcount(x: int) -> int:
    return bin(x & MASK64).count("1")


def furthest_range(seed: int, start: int, count: int) -> tuple[int, int, int] | None:
    """(distance, index, color) with the least popcount(color ^ FURTHEST_TARGET); ties: smallest index."""
    return _argmin_range(seed, start, count, lambda c: popcount(c ^ FURTHEST_TARGET))


def near_fixed_range(seed: int, start: int, count: int) -> tuple[int, int, int] | None:
    """(distance, index, color) with the least popcount(mix(color) ^ color); ties: smallest index."""
    return _argmin_range(seed, start, count, lambda c: popcount(mix(c) ^ c))


def _argmin_range(seed: int, start: int, count: int, distance) -> tuple[int, int, int] | None:
    check_u64("seed", seed)
    check_range(start, count)
    best = None
    for i in range(start, start + count):
        c = color_at(seed, i)
        d = distance(c)
        if best is None or d < best[0]:
            best = (d, i, c)
    return best


def cycle_within(h0: int, depth: int, mask: int = MASK64) -> tuple[int, int] | None:
    """(tail, length) if h_0..h_depth repeats a value, else None; h_{k+1} = mix(h_k) & mask.

    The first repeat h_{tail+length} == h_tail lies within the first depth + 1 values exactly
    when tail + length <= depth.  A dict of every value seen: for known answers only.
    """
    seen: dict[int, int] = {}
    h = h0 & mask
    for d in range(depth + 1):
        if h in seen:
            return seen[h], d - seen[h]
        seen[h] = d
        h = mix(h) & mask
    return None


def rgb(color: int) -> tuple[int, int, int]:
    """A color as something to look at: the low 24 bits as (r, g, b), as gay.hy draws it."""
    return (color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF


def hex64(x: int) -> str:
    """The wire form of a 64-bit value: "0x" and 16 lowercase hex digits."""
    return f"0x{x & MASK64:016x}"


def check_u64(name: str, x: int) -> None:
    if not isinstance(x, int) or isinstance(x, bool) or not 0 <= x < INDEX_SPACE:
        raise ValueError(f"{name} must be an integer in [0, 2**64), got {x!r}")


def check_range(start: int, count: int) -> None:
    """A range is [start, start + count) inside the index space; count 0 is the empty range."""
    check_u64("start", start)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    if start + count > INDEX_SPACE:
        raise ValueError(f"range [{start}, {start}+{count}) runs past the end of the index space 2**64")
