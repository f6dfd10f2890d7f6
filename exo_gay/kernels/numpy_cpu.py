"""The numpy backend: spi.py's SplitMix64 over blocks of uint64 lanes, for installs without numba.

The core install (no extras) fingerprints and plays the games with this backend; numba's
(`[mine]`, `[nashprop]`, `[fast]`) stays the fast path when it is installed.  Arithmetic
wraps modulo 2**64 (2**32 for gay.hy's hash) as numpy's unsigned arrays do; a piece is
processed in blocks of BLOCK colors, so memory stays small for any count.  Like every
backend it is checked against spi.py before its first use (kernels.checked).
"""

from __future__ import annotations

import numpy as np

from .. import gayhy, spi

BLOCK = 1 << 16  # colors per block: 512 KiB of uint64, large enough that numpy's loops dominate

_G = np.uint64(spi.GOLDEN)
_M1 = np.uint64(spi.MIX1)
_M2 = np.uint64(spi.MIX2)
_S27, _S30, _S31 = np.uint64(27), np.uint64(30), np.uint64(31)
_STEPS = np.arange(BLOCK, dtype=np.uint64) * _G  # k * GOLDEN mod 2**64, k in [0, BLOCK)
_FAR = np.uint64(spi.FURTHEST_TARGET)
_POP8 = np.array([bin(b).count("1") for b in range(256)], dtype=np.uint8)


def mix(x: np.ndarray) -> np.ndarray:
    """spi.mix over a uint64 array (a new array; ``x`` is left alone)."""
    z = x + _G
    z ^= z >> _S30
    z *= _M1
    z ^= z >> _S27
    z *= _M2
    z ^= z >> _S31
    return z


def colors(seed: int, start: int, count: int) -> np.ndarray:
    """spi.color_at(seed, i) for i in [start, start + count), as one uint64 array."""
    spi.check_range(start, count)
    x0 = np.uint64((seed + start * spi.GOLDEN) & spi.MASK64)
    return mix(x0 + np.arange(count, dtype=np.uint64) * _G)


def _blocks(seed: int, start: int, count: int):
    """(offset, colors) for consecutive blocks of [start, start + count)."""
    for off in range(0, count, BLOCK):
        n = min(BLOCK, count - off)
        x0 = np.uint64((seed + (start + off) * spi.GOLDEN) & spi.MASK64)
        yield off, mix(x0 + _STEPS[:n])


def popcount(x: np.ndarray) -> np.ndarray:
    """Bits set in each uint64 (np.bitwise_count where numpy has it, a byte table otherwise)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    return _POP8[x.view(np.uint8)].reshape(-1, 8).sum(axis=1, dtype=np.uint8)


def xor_canonical(seed: int, start: int, count: int) -> int:
    acc = 0
    for _, c in _blocks(seed, start, count):
        acc ^= int(np.bitwise_xor.reduce(c))
    return acc


def xor_turbo32(seed: int, start: int, count: int) -> int:
    """gayhy.turbo32_xor over uint32 lanes."""
    spi.check_range(start, count)
    if start + count > gayhy.TURBO32_INDEX_SPACE:
        raise ValueError("gayhy-turbo32 indices live in [0, 2**32)")
    g, m1, m2 = np.uint32(gayhy.GOLDEN32), np.uint32(gayhy.MIX1_32), np.uint32(gayhy.MIX2_32)
    base = np.uint32((seed + gayhy.GOLDEN32) & gayhy.MASK32)
    acc = 0
    for off in range(0, count, BLOCK):
        n = min(BLOCK, count - off)
        z = base + np.arange(start + off, start + off + n, dtype=np.uint32) * g
        z ^= z >> np.uint32(15)
        z *= m1
        z ^= z >> np.uint32(13)
        z *= m2
        z ^= z >> np.uint32(16)
        acc ^= int(np.bitwise_xor.reduce(z))
    return acc


def _argmin(seed: int, start: int, count: int, distance) -> tuple[int, int, int] | None:
    spi.check_u64("seed", seed)
    spi.check_range(start, count)
    best = None
    for off, c in _blocks(seed, start, count):
        d = distance(c)
        k = int(np.argmin(d))  # the first of the block's least distances: ties go to the smallest index
        if best is None or int(d[k]) < best[0]:
            best = (int(d[k]), start + off + k, int(c[k]))
            if best[0] == 0:
                break  # nothing later can beat 0
    return best


class NumpyCPU:
    """One core, one contiguous piece, in numpy's vector loops; the runner splits and threads."""

    name = "numpy"

    def xor_piece(self, seed: int, start: int, count: int, algorithm: str) -> int:
        return gayhy.xor_function(algorithm, xor_canonical, xor_turbo32)(seed, start, count)

    def furthest_piece(self, seed: int, start: int, count: int) -> tuple[int, int, int] | None:
        return _argmin(seed, start, count, lambda c: popcount(c ^ _FAR))

    def near_fixed_piece(self, seed: int, start: int, count: int) -> tuple[int, int, int] | None:
        return _argmin(seed, start, count, lambda c: popcount(mix(c) ^ c))

    def cycle_probe(self, h0: int, depth: int, mask: int = spi.MASK64) -> tuple[int, int] | None:
        # One value after another: nothing to vectorise; spi's dict of values seen is exact.
        return spi.cycle_within(h0, depth, mask)
