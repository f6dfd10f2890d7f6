"""The compiled CPU backend (``numba-cpu``): LLVM-compiled fingerprint kernels, numba game kernels.

The fingerprint (llvm_cpu.py) needs only llvmlite, which loads cached machine code in a few
milliseconds; the games (games_numba.py) import numba, and pay its start-up, on their first
use only.  Both libraries come with the ``[fast]`` extra (numba brings llvmlite).
"""

from __future__ import annotations

from ..gayhy import GOLDEN32, xor_function
from ..spi import GOLDEN, INDEX_SPACE, MASK64
from . import llvm_cpu


def xor_canonical(seed: int, start: int, count: int) -> int:
    """XOR of color_at(seed, i) for i in [start, start + count), count up to 2**64."""
    x0 = (seed + start * GOLDEN) & MASK64
    if count == INDEX_SPACE:  # does not fit a uint64: two halves
        half = count >> 1
        return llvm_cpu.kernel("canonical")(x0, half) ^ xor_canonical(seed, (start + half) & MASK64, half)
    return llvm_cpu.kernel("canonical")(x0, count)


def xor_turbo32(seed: int, start: int, count: int) -> int:
    """XOR of gay.hy's 32-bit hash over [start, start + count)."""
    return llvm_cpu.kernel("gayhy-turbo32")((seed + start * GOLDEN32) & 0xFFFFFFFF, count)


class NumbaCPUBackend:
    """One core, one contiguous piece; the runner splits and threads."""

    name = "numba-cpu"

    def __init__(self) -> None:
        llvm_cpu.kernel("canonical")  # load (or compile) now: a missing llvmlite is an ImportError here

    def xor_piece(self, seed: int, start: int, count: int, algorithm: str) -> int:
        if count == 0:
            return 0
        return xor_function(algorithm, xor_canonical, xor_turbo32)(seed, start, count)

    def furthest_piece(self, seed: int, start: int, count: int) -> tuple[int, int, int] | None:
        from . import games_numba

        return games_numba.furthest_piece(seed, start, count)

    def near_fixed_piece(self, seed: int, start: int, count: int) -> tuple[int, int, int] | None:
        from . import games_numba

        return games_numba.near_fixed_piece(seed, start, count)

    def cycle_probe(self, h0: int, depth: int, mask: int = MASK64) -> tuple[int, int] | None:
        from . import games_numba

        return games_numba.cycle_probe(h0, depth, mask)
