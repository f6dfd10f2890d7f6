"""The color games' kernels (spi.furthest_range, near_fixed_range, cycle_within), compiled by numba.

One call scans one contiguous piece on one core, folds in registers, releases the GIL and
caches its compiled code in exo-gay's cache folder (numba_cpu.cached_njit), not beside the
module.  Every constant and counter is uint64: mixing signed and unsigned makes numba
promote to float.

An argmin with "ties: smallest index" does not vectorise as written (the index must travel
with the minimum), so the scan is done in blocks: a vectorised pass finds the block's
smallest distance, and only a block that beats the best so far is scanned again, with an
early exit, for the first index that reaches it.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types, uint64
from numba.extending import intrinsic

from ..spi import FURTHEST_TARGET, GOLDEN, MASK64, color_at
from .numba_cpu import _finalise, cached_njit

_G = np.uint64(GOLDEN)
_ZERO, _ONE = np.uint64(0), np.uint64(1)
_NONE = np.uint64(65)  # larger than any popcount: "no best yet"
# Colors per block of the two-pass argmin: long enough for the vector loop to dominate,
# short enough that rescanning a block that improved the best is cheap.
_BLOCK = np.uint64(4096)


@intrinsic
def popcount64(typingctx, x):
    """LLVM's ctpop: one VPOPCNTQ per 8 lanes where the CPU has AVX512-VPOPCNTDQ."""
    if x != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(fn, [args[0]])

    return types.uint64(types.uint64), codegen


@cached_njit(uint64(uint64), nogil=True, inline="always")
def _mix(x):  # pragma: no cover - compiled
    return _finalise(x + _G)  # the one jitted SplitMix64 (numba_cpu.py), mix's "+ GOLDEN" first


@cached_njit(types.UniTuple(uint64, 2)(uint64, uint64, uint64), nogil=True)
def furthest_scan(x0, count, target):  # pragma: no cover - compiled
    """(distance, k) minimising popcount(mix(x0 + k*GOLDEN) ^ target), smallest k on ties.

    x0 = seed + start * GOLDEN; distance 65 means count was 0.
    """
    best_d = _NONE
    best_k = _ZERO
    b0 = _ZERO
    while b0 < count:
        n = min(_BLOCK, count - b0)
        xb = x0 + b0 * _G
        m = _NONE
        for k in range(n):
            d = popcount64(_mix(xb + np.uint64(k) * _G) ^ target)
            m = min(m, d)
        if m < best_d:
            for k in range(n):
                if popcount64(_mix(xb + np.uint64(k) * _G) ^ target) == m:
                    best_k = b0 + np.uint64(k)
                    break
            best_d = m
            if best_d == _ZERO:
                break  # nothing later can beat 0, and ties go to the smaller index
        b0 += n
    return best_d, best_k


@cached_njit(types.UniTuple(uint64, 2)(uint64, uint64), nogil=True)
def near_fixed_scan(x0, count):  # pragma: no cover - compiled
    """(distance, k) minimising popcount(mix(c) ^ c) for c = mix(x0 + k*GOLDEN), smallest k on ties."""
    best_d = _NONE
    best_k = _ZERO
    b0 = _ZERO
    while b0 < count:
        n = min(_BLOCK, count - b0)
        xb = x0 + b0 * _G
        m = _NONE
        for k in range(n):
            c = _mix(xb + np.uint64(k) * _G)
            m = min(m, popcount64(_mix(c) ^ c))
        if m < best_d:
            for k in range(n):
                c = _mix(xb + np.uint64(k) * _G)
                if popcount64(_mix(c) ^ c) == m:
                    best_k = b0 + np.uint64(k)
                    break
            best_d = m
            if best_d == _ZERO:
                break
        b0 += n
    return best_d, best_k


@cached_njit(uint64(uint64, uint64), nogil=True, inline="always")
def _step(h, mask):
    # mask = 2**64 - 1 gives mix itself; a narrower mask gives a small-state map whose rho
    # shape is short enough to test the cycle finder on (mix's own cycles are ~2**63 long).
    return _mix(h) & mask


@cached_njit(types.UniTuple(uint64, 3)(uint64, uint64, uint64), nogil=True)
def brent_cycle(h0, max_steps, mask):  # pragma: no cover - compiled
    """Brent's cycle finder on h -> mix(h) & mask from h0, constant memory.

    Returns (found, tail, length): found = 1 when the chain closed within max_steps
    evaluations of the step (the search for the cycle; locating its tail then costs at most
    tail + length more), else (0, 0, 0).
    """
    power = _ONE
    lam = _ONE
    tortoise = h0
    hare = _step(h0, mask)
    steps = _ONE
    while tortoise != hare:
        if steps >= max_steps:
            return _ZERO, _ZERO, _ZERO
        if power == lam:
            tortoise = hare
            power *= np.uint64(2)
            lam = _ZERO
        hare = _step(hare, mask)
        lam += _ONE
        steps += _ONE
    tortoise = h0
    hare = h0
    for _ in range(lam):
        hare = _step(hare, mask)
    mu = _ZERO
    while tortoise != hare:
        tortoise = _step(tortoise, mask)
        hare = _step(hare, mask)
        mu += _ONE
    return _ONE, mu, lam


# ---------------------------------------------------------------- the pieces, in Python

# A kernel's count is a uint64 counter, and 2**64 itself does not fit in one.
MAX_SCAN = 1 << 62


def _scan(kernel, seed: int, start: int, count: int, *extra) -> tuple[int, int, int] | None:
    best = None
    while count > 0:  # only a count near 2**64 needs more than one kernel call
        n = min(count, MAX_SCAN)
        d, k = kernel(np.uint64((seed + start * GOLDEN) & MASK64), np.uint64(n), *extra)
        cand = (int(d), start + int(k), color_at(seed, start + int(k)))
        best = cand if best is None or cand[:2] < best[:2] else best
        start, count = start + n, count - n
    return best


def furthest_piece(seed: int, start: int, count: int) -> tuple[int, int, int] | None:
    return _scan(furthest_scan, seed, start, count, np.uint64(FURTHEST_TARGET))


def near_fixed_piece(seed: int, start: int, count: int) -> tuple[int, int, int] | None:
    return _scan(near_fixed_scan, seed, start, count)


def cycle_probe(h0: int, depth: int, mask: int = MASK64) -> tuple[int, int] | None:
    # Brent detects a rho with tail mu and cycle lam within 2 * max(mu, lam) + lam <= 3 * depth
    # steps whenever mu + lam <= depth; checking the bound afterwards gives spi.cycle_within's answer.
    found, tail, length = brent_cycle(np.uint64(h0 & mask), np.uint64(3 * depth), np.uint64(mask))
    if not found or int(tail) + int(length) > depth:
        return None
    return int(tail), int(length)
