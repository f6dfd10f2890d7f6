"""Commit, then audit: a Merkle tree over a chunk's leaf fingerprints that also carries their XOR.

A miner splits its chunk [start, start+count) into up to LEAVES contiguous leaves
(`leaf_ranges`), XORs the colors of each, and commits to the root.  A leaf's digest binds its
range and XOR; a node's digest binds both children's digests AND both children's XOR labels
(its own label is their XOR), so by induction the root fixes every label in the tree: no
label, a sibling's on an audit path included, can change without changing the root.
Only after the commitment does the auditor pick leaves (`choose_leaves`), ask for their
values and paths, recompute those leaves itself and check them (`verify_path`).
A miner faking a fraction f of its leaves passes s independent audits with probability at most
(1-f)^s (`detection_probability`).

Pure functions over integers and bytes: no I/O, no kernels, so the star and NashProp share it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

LEAVES = 256
_U64 = (1 << 64) - 1


def leaf_ranges(start: int, count: int, leaves: int = LEAVES) -> list[tuple[int, int]]:
    """[start, start+count) cut into min(leaves, count) contiguous (start, count) parts, the
    first ones one longer when the cut is uneven."""
    if count < 1 or leaves < 1:
        raise ValueError("a chunk and its leaves must be non-empty")
    n = min(leaves, count)
    q, r = divmod(count, n)
    out, a = [], start
    for k in range(n):
        c = q + (1 if k < r else 0)
        out.append((a, c))
        a += c
    return out


def _leaf(context: bytes, start: int, count: int, value: int) -> bytes:
    return hashlib.sha256(b"exo-gay/leaf\0" + context + start.to_bytes(16, "big")
                          + count.to_bytes(16, "big") + (value & _U64).to_bytes(8, "big")).digest()


def _node(left: bytes, left_xor: int, right: bytes, right_xor: int) -> bytes:
    """A node commits to each child's digest and each child's XOR label (version 2 of the tree:
    the first version hashed only the sum of the labels, which left a sibling's label unbound)."""
    return hashlib.sha256(b"exo-gay/node2\0" + left + (left_xor & _U64).to_bytes(8, "big")
                          + right + (right_xor & _U64).to_bytes(8, "big")).digest()


@dataclass(frozen=True)
class Tree:
    """All levels of the tree, leaves first: each level a tuple of (digest, xor)."""

    context: bytes
    start: int
    count: int
    levels: tuple[tuple[tuple[bytes, int], ...], ...]

    @property
    def root(self) -> bytes:
        return self.levels[-1][0][0]

    @property
    def value(self) -> int:
        """The chunk's fingerprint: the XOR of every leaf."""
        return self.levels[-1][0][1]

    @property
    def n_leaves(self) -> int:
        return len(self.levels[0])

    def leaf_value(self, k: int) -> int:
        return self.levels[0][k][1]

    def path(self, k: int) -> list[tuple[bytes, int]]:
        """Siblings of leaf k from the bottom up, as (digest, xor); a promoted node has none."""
        if not 0 <= k < self.n_leaves:
            raise IndexError(f"leaf {k} of {self.n_leaves}")
        out = []
        for level in self.levels[:-1]:
            if k % 2 == 0 and k == len(level) - 1:
                pass  # odd one out: promoted unchanged
            else:
                out.append(level[k ^ 1])
            k //= 2
        return out


def build(context: bytes, start: int, count: int, leaf_values: list[int]) -> Tree:
    """The tree over ``leaf_values``, the XORs of ``leaf_ranges(start, count)`` in order."""
    ranges = leaf_ranges(start, count, len(leaf_values))
    if len(ranges) != len(leaf_values):
        raise ValueError(f"{len(leaf_values)} leaf values for {len(ranges)} leaves")
    level = tuple((_leaf(context, a, c, v), v & _U64) for (a, c), v in zip(ranges, leaf_values, strict=True))
    levels = [level]
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            (ld, lv), (rd, rv) = level[i], level[i + 1]
            nxt.append((_node(ld, lv, rd, rv), lv ^ rv))
        if len(level) % 2:
            nxt.append(level[-1])
        level = tuple(nxt)
        levels.append(level)
    return Tree(context, start, count, tuple(levels))


def verify_path(context: bytes, start: int, count: int, n_leaves: int, root: bytes, value: int,
                k: int, leaf_value: int, path: list[tuple[bytes, int]]) -> bool:
    """True when leaf k with ``leaf_value`` and ``path`` leads to ``root`` and the root's XOR is
    ``value``. The caller must recompute ``leaf_value`` itself for the audit to mean anything."""
    ranges = leaf_ranges(start, count, n_leaves)
    if len(ranges) != n_leaves or not 0 <= k < n_leaves:
        return False
    a, c = ranges[k]
    digest, acc = _leaf(context, a, c, leaf_value), leaf_value & _U64
    size, used = n_leaves, 0
    while size > 1:
        if not (k % 2 == 0 and k == size - 1):
            if used >= len(path):
                return False
            sd, sv = path[used]
            used += 1
            if not isinstance(sd, (bytes, bytearray)) or len(sd) != 32 or not 0 <= sv <= _U64:
                return False
            digest = _node(bytes(sd), sv, digest, acc) if k % 2 else _node(digest, acc, bytes(sd), sv)
            acc ^= sv
        k //= 2
        size = (size + 1) // 2
    return used == len(path) and digest == root and acc == (value & _U64)


def choose_leaves(randomness: bytes, root: bytes, n_leaves: int, s: int) -> list[int]:
    """s distinct leaves (all of them if s >= n_leaves), drawn from ``randomness`` fixed after the
    commitment ``root``: the same inputs give the same choice, so a third party can re-check it."""
    s = min(s, n_leaves)
    chosen: list[int] = []
    counter = 0
    while len(chosen) < s:
        h = hashlib.sha256(b"exo-gay/audit\0" + randomness + root + counter.to_bytes(8, "big")).digest()
        counter += 1
        k = int.from_bytes(h[:8], "big") % n_leaves
        if k not in chosen:
            chosen.append(k)
    return chosen


def detection_probability(f: float, s: int) -> float:
    """The least chance that s audits of distinct uniformly drawn leaves catch a miner faking a
    fraction f of them: 1 - (1-f)^s (drawing without replacement only raises it)."""
    if not 0.0 <= f <= 1.0 or s < 0:
        raise ValueError("f in [0, 1] and s >= 0")
    return 1.0 - (1.0 - f) ** s
