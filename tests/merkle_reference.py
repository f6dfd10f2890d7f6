"""An independent reading of the commitment format in docs/proof.md (no exo_gay code).

leaf  = SHA-256("exo-gay/leaf\\0" || context || start (16 B BE) || count (16 B BE) || xor (8 B BE))
node  = SHA-256("exo-gay/node2\\0" || left digest || left xor (8 B BE) || right digest || right xor (8 B BE))
label(node) = left xor ^ right xor; an odd node out at the end of a level is promoted unchanged.
The leaves are the chunk cut into min(256, count) contiguous parts, the first ones one longer.

``forged_tree`` builds the tree a liar would: honest leaves, one internal label replaced, the
digests above it computed over the forged label, so the root is consistent with the lie.
"""

from __future__ import annotations

import hashlib

M = (1 << 64) - 1


def ranges(start: int, count: int, leaves: int = 256) -> list[tuple[int, int]]:
    n = min(leaves, count)
    out, a = [], start
    for k in range(n):
        c = count // n + (1 if k < count % n else 0)
        out.append((a, c))
        a += c
    return out


def leaf(ctx: bytes, a: int, c: int, v: int) -> bytes:
    return hashlib.sha256(b"exo-gay/leaf\0" + ctx + a.to_bytes(16, "big") + c.to_bytes(16, "big")
                          + (v & M).to_bytes(8, "big")).digest()


def node(ld: bytes, lv: int, rd: bytes, rv: int) -> bytes:
    return hashlib.sha256(b"exo-gay/node2\0" + ld + lv.to_bytes(8, "big") + rd + rv.to_bytes(8, "big")).digest()


def levels(ctx: bytes, start: int, count: int, values: list[int], forge: tuple[int, int | None, int] | None = None):
    """Every level as [(digest, label)]; ``forge=(level, index, delta)`` XORs the label of that
    node (every node of the level when index is None) with delta (+ the node's index)."""
    lv = [(leaf(ctx, a, c, v), v & M) for (a, c), v in zip(ranges(start, count, len(values)), values, strict=True)]
    out = [lv]
    depth = 0
    while len(lv) > 1:
        depth += 1
        nxt = []
        for i in range(0, len(lv) - 1, 2):
            (a, x), (b, y) = lv[i], lv[i + 1]
            nxt.append((node(a, x, b, y), x ^ y))
        if len(lv) % 2:
            nxt.append(lv[-1])
        if forge and forge[0] == depth:
            # the liar keeps this node's digest (over its honest children) and claims another
            # label for it; the parent's digest is then computed over the forged label
            for i in range(len(nxt)) if forge[1] is None else (forge[1],):
                d, v = nxt[i]
                nxt[i] = (d, v ^ ((forge[2] + i) & M or 1))
        lv = nxt
        out.append(lv)
    return out


def path(lvls, k: int) -> list[tuple[bytes, int]]:
    out = []
    for level in lvls[:-1]:
        if not (k % 2 == 0 and k == len(level) - 1):
            out.append(level[k ^ 1])
        k //= 2
    return out
