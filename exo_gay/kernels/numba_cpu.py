"""The CPU color kernel: SplitMix64 XOR-reduced in registers, compiled by numba.

One call reduces one contiguous piece on one core and releases the GIL (nogil), so the
runner gets all cores from plain Python threads.  The loops step the SplitMix64 state by
an add of GOLDEN per color (no multiply by the index) and LLVM vectorises them: AVX2 gets
one contiguous stream (LLVM interleaves four vectors of four lanes), AVX-512 gets eight
lane blocks whose independent chains hide the 64-bit multiply's latency.  `exo-gay bench`
measures both against plain and hand-vectorised C.  cache=True keeps the compiled code
beside the module, so a fresh process loads it instead of compiling.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint32, uint64

from ..gayhy import GOLDEN32, MIX1_32, MIX2_32
from ..spi import GOLDEN, INDEX_SPACE, MASK64, MIX1, MIX2

_G = np.uint64(GOLDEN)
_M1 = np.uint64(MIX1)
_M2 = np.uint64(MIX2)
_G32 = np.uint32(GOLDEN32)
_M1_32 = np.uint32(MIX1_32)
_M2_32 = np.uint32(MIX2_32)
# Shift counts typed as unsigned too: mixing signed and unsigned makes numba promote to float.
_S13, _S15, _S16 = np.uint32(13), np.uint32(15), np.uint32(16)
_S27, _S30, _S31 = np.uint64(27), np.uint64(30), np.uint64(31)
_ONE, _THREE, _SEVEN = np.uint64(1), np.uint64(3), np.uint64(7)


# The canonical kernels compile lazily (no signature): a process compiles or loads only the
# shape its CPU uses, which keeps a fresh install's first call short.
@njit(nogil=True, cache=True, inline="always")
def _finalise(z):  # pragma: no cover - compiled
    # SplitMix64's finaliser on a state that already holds mix's own "+ GOLDEN".
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(nogil=True, cache=True)
def _xor_contiguous(x0, count):  # pragma: no cover - compiled
    # x0 = seed + start * GOLDEN; color k is mix(x0 + k * GOLDEN) and mix adds GOLDEN once
    # more, so the state starts at x0 + GOLDEN and steps by GOLDEN.  A uint64 down-counter
    # (not range(), whose index is signed) keeps every count below 2**64 valid.
    acc = np.uint64(0)
    x = x0
    n = count
    while n:
        x += _G
        acc ^= _finalise(x)
        n -= _ONE
    return acc


@njit(nogil=True, cache=True)
def _xor_lane_blocks(x0, count):  # pragma: no cover - compiled
    # Eight equal blocks side by side (eight independent multiply chains per vector
    # lane), then the remainder (< 8 colors) contiguously.
    m = count >> _THREE
    step = m * _G
    x1 = x0 + _G
    x2 = x1 + step
    x3 = x2 + step
    x4 = x3 + step
    x5 = x4 + step
    x6 = x5 + step
    x7 = x6 + step
    x8 = x7 + step
    a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = np.uint64(0)
    n = m
    while n:
        a1 ^= _finalise(x1)
        a2 ^= _finalise(x2)
        a3 ^= _finalise(x3)
        a4 ^= _finalise(x4)
        a5 ^= _finalise(x5)
        a6 ^= _finalise(x6)
        a7 ^= _finalise(x7)
        a8 ^= _finalise(x8)
        x1 += _G
        x2 += _G
        x3 += _G
        x4 += _G
        x5 += _G
        x6 += _G
        x7 += _G
        x8 += _G
        n -= _ONE
    acc = a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7 ^ a8
    x = x0 + (step << _THREE)
    n = count & _SEVEN
    while n:
        x += _G
        acc ^= _finalise(x)
        n -= _ONE
    return acc


@njit(uint32(uint32, uint32, uint64), nogil=True, cache=True)
def _xor_turbo32(seed32, start, count):  # pragma: no cover - compiled
    # gay.hy's 32-bit hash, the state stepped by an add as above.  Every step is cast back
    # to uint32: numba otherwise widens to 64-bit lanes, which halves the vector width.
    acc = np.uint32(0)
    x = np.uint32(seed32 + start * _G32 + _G32)
    n = count
    while n:
        z = np.uint32(np.uint32(x ^ (x >> _S15)) * _M1_32)
        z = np.uint32(np.uint32(z ^ (z >> _S13)) * _M2_32)
        acc ^= np.uint32(z ^ (z >> _S16))
        x = np.uint32(x + _G32)
        n -= _ONE
    return acc


def target_features() -> str:
    """The LLVM feature string numba compiles for (NUMBA_CPU_FEATURES, else this host's)."""
    from numba.core import config

    if config.CPU_FEATURES is not None:
        return config.CPU_FEATURES
    import llvmlite.binding as ll

    return ll.get_host_cpu_features().flatten()


def target_has_avx512() -> bool:
    return "+avx512f" in target_features().split(",")


# Each shape is what measured fastest for its vector width (see docs/kernel.md).
canonical_kernel = _xor_lane_blocks if target_has_avx512() else _xor_contiguous


def xor_canonical(seed: int, start: int, count: int) -> int:
    """XOR of color_at(seed, i) for i in [start, start + count), count up to 2**64."""
    x0 = (seed + start * GOLDEN) & MASK64
    if count == INDEX_SPACE:  # does not fit a uint64: two halves
        half = count >> 1
        low = int(canonical_kernel(np.uint64(x0), np.uint64(half)))
        return low ^ xor_canonical(seed, (start + half) & MASK64, half)
    return int(canonical_kernel(np.uint64(x0), np.uint64(count)))


class NumbaCPU:
    """One core, one contiguous piece; the runner splits and threads."""

    name = "numba-cpu"

    def xor_piece(self, seed: int, start: int, count: int, algorithm: str) -> int:
        if count == 0:
            return 0
        if algorithm == "canonical":
            return xor_canonical(seed, start, count)
        if algorithm == "gayhy-turbo32":
            return int(_xor_turbo32(np.uint32(seed & 0xFFFFFFFF), np.uint32(start), np.uint64(count)))
        raise ValueError(f"unknown algorithm {algorithm!r}")
