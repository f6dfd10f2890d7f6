"""gay.hy compatibility: the two figures gay.hy prints, in plain Python, never used by default.

They are not the canonical color: gay.hy's fast path hashes with a 32-bit cut-down mix, and
its triadic check uses 64-bit multipliers whose high half copies the low half.
"""

from __future__ import annotations

from collections.abc import Callable

from .spi import GOLDEN, INDEX_SPACE, MASK64, MIX1, MIX2, Polarity, check_range, twisted_seed

MASK32 = (1 << 32) - 1
GOLDEN32 = GOLDEN & MASK32
MIX1_32 = MIX1 & MASK32
MIX2_32 = MIX2 & MASK32
# gay.hy's triadic check builds its 64-bit multipliers from the low 32 bits twice.
MIX1_DOUBLED = MIX1_32 * ((1 << 32) + 1)
MIX2_DOUBLED = MIX2_32 * ((1 << 32) + 1)

TURBO32_INDEX_SPACE = 1 << 32
# Every algorithm a range can be mined with, and the end of its index space: the canonical
# color (spi.py) and, for compatibility only, gay.hy's 32-bit hash.
INDEX_SPACES = {"canonical": INDEX_SPACE, "gayhy-turbo32": TURBO32_INDEX_SPACE}
ALGORITHMS = tuple(INDEX_SPACES)
PUBLISHED_COUNT = 500_000_000  # the seed document's fp=0xab11046c is over 500M colors
TRIADIC_N = 100_000  # ... and its Triadic XOR over 100000 indices per polarity


def xor_function(algorithm: str, canonical: Callable[..., int], turbo32: Callable[..., int]) -> Callable[..., int]:
    """A backend's XOR function for ``algorithm`` (one of ALGORITHMS): ``canonical`` or ``turbo32``;
    any other name is a ValueError."""
    if algorithm == "canonical":
        return canonical
    if algorithm == "gayhy-turbo32":
        return turbo32
    raise ValueError(f"unknown algorithm {algorithm!r}")


def turbo32_hash(seed: int, i: int) -> int:
    """gay.hy's 32-bit color of index i (the MLX "fearless"/"terastream" path)."""
    z = ((seed & MASK32) + i * GOLDEN32 + GOLDEN32) & MASK32
    z = ((z ^ (z >> 15)) * MIX1_32) & MASK32
    z = ((z ^ (z >> 13)) * MIX2_32) & MASK32
    return z ^ (z >> 16)


def turbo32_xor(seed: int, start: int, count: int) -> int:
    """XOR of turbo32_hash over [start, start + count); indices live in [0, 2**32)."""
    check_range(start, count)
    if start + count > TURBO32_INDEX_SPACE:
        raise ValueError("gayhy-turbo32 indices live in [0, 2**32)")
    acc = 0
    for i in range(start, start + count):
        acc ^= turbo32_hash(seed, i)
    return acc


def index_space_text(algorithm: str) -> str:
    """The end of an algorithm's index space, as error messages name it."""
    return "2**64" if algorithm == "canonical" else f"2**32 for {algorithm}"


def gayhy_fp(seed: int, xor32: int) -> int:
    """What gay.hy prints as ``fp=``: the seed XORed in (a display convention; it does not compose)."""
    return seed ^ xor32


def doubled_mix(x: int) -> int:
    """gay.hy's numpy-spi step: SplitMix64 with the doubled-low-half multipliers."""
    z = (x + GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * MIX1_DOUBLED) & MASK64
    z = ((z ^ (z >> 27)) * MIX2_DOUBLED) & MASK64
    return z ^ (z >> 31)


def triadic_part(seed: int, p: Polarity | int, n: int = TRIADIC_N) -> int:
    """One polarity's share of gay.hy's triadic check: t ^ XOR of j = p, p+3, ... (n of them)."""
    t = twisted_seed(seed, p)
    acc = 0
    for k in range(n):
        j = p + 3 * k
        acc ^= doubled_mix((t + j * GOLDEN) & MASK64)
    return t ^ acc


def triadic_xor(seed: int, n: int = TRIADIC_N) -> int:
    """gay.hy's "Triadic XOR": the XOR of the three polarities' parts."""
    return triadic_part(seed, 0, n) ^ triadic_part(seed, 1, n) ^ triadic_part(seed, 2, n)
