"""The NashProp plan as pure functions: order, ranges, aggregation tree and the takeover rule.

Every member computes the same plan alone from (seed, member names, total, fan-out): no message.
The tree is a k-ary tree laid out in pre-order over the NashProp positions, so every subtree is a
contiguous block of positions and so a contiguous block of colors: a subtree's summary covers
[start, end) exactly, and merging children checks that their blocks are adjacent.
The takeover rule has two parts. Mining: an out (dead or excluded) position's range, less the
pieces it published and its parent audited, is mined by its nearest live ancestor, which holds
those records (no live ancestor: by its composer). Aggregation: an out position's place in the
tree goes to the lowest live position of its subtree, promoted (its composer), so one failure
adds at most k edges to one member whatever the membership; a subtree with no live member is
composed by the composer of its parent. The acting root is the lowest live position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

from ..bundle import even_start, nashprop_order


def split_counts(total: int, parts: int) -> list[int]:
    """Nearly even split, the first blocks one longer."""
    q, r = divmod(total, parts)
    return [q + (1 if i < r else 0) for i in range(parts)]


class Tree:
    """A k-ary tree in pre-order over positions 0..n-1: node p's subtree is [p, end[p])."""

    __slots__ = ("n", "k", "parent", "end")

    def __init__(self, n: int, k: int):
        if n < 1 or k < 1:
            raise ValueError("a tree needs n >= 1 nodes and fan-out k >= 1")
        self.n, self.k = n, k
        parent = [-1] * n
        end = [0] * n
        stack = [(0, n, -1)]
        while stack:
            lo, hi, par = stack.pop()
            parent[lo] = par
            end[lo] = hi
            rest = hi - lo - 1
            if rest <= 0:
                continue
            a = lo + 1
            for c in split_counts(rest, min(k, rest)):
                stack.append((a, a + c, lo))
                a += c
        self.parent, self.end = parent, end

    def children(self, p: int) -> Iterator[int]:
        c, e = p + 1, self.end[p]
        while c < e:
            yield c
            c = self.end[c]

    def depth(self) -> int:
        """Edges from the root to the deepest node: down the first children, whose blocks are
        the largest at every level."""
        d, p = 0, 0
        while self.end[p] > p + 1:
            p += 1
            d += 1
        return d


@dataclass(frozen=True)
class Plan:
    """What every member derives alone: the order, each position's colors and the tree."""

    seed: int
    total: int
    order: tuple[str, ...]
    k: int
    n: int = field(init=False)
    _base: int = field(init=False, repr=False)

    @classmethod
    def make(cls, seed: int, total: int, members: Iterable[str], k: int = 4) -> "Plan":
        order = tuple(nashprop_order(seed, members))
        if total < len(order):
            raise ValueError(f"cannot split {total} colors over {len(order)} members")
        return cls(seed, total, order, k)

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", len(self.order))
        object.__setattr__(self, "_base", self.total // max(1, len(self.order)))

    def position(self, name: str) -> int:
        return self.order.index(name)

    def start(self, pos: int) -> int:
        """First color of position ``pos`` (bundle.even_start: N // n each, the last the rest);
        start(n) is the total."""
        return even_start(self.total, self.n, pos)

    def range_of(self, pos: int) -> tuple[int, int]:
        a = self.start(pos)
        return a, self.start(pos + 1) - a


class View:
    """Who is out (dead or excluded as a liar), as one member sees it, and the takeover rule over
    it. Pure: the same (tree, out set) gives the same answers on every member."""

    __slots__ = ("tree", "dead", "excluded", "_root", "version")

    def __init__(self, tree: Tree, dead: Iterable[int] = (), excluded: Iterable[int] = ()):
        self.tree = tree
        self.dead = set(dead)
        self.excluded = set(excluded)
        self._root: int | None = None
        self.version = 0  # grows with every change, so members can cache what they derive

    def out(self, p: int) -> bool:
        return p in self.dead or p in self.excluded

    def mark_dead(self, p: int) -> None:
        self.dead.add(p)
        self._root = None
        self.version += 1

    def mark_excluded(self, p: int) -> None:
        self.excluded.add(p)
        self._root = None
        self.version += 1

    def acting_root(self) -> int:
        """The lowest live position (-1 when none is left)."""
        if self._root is None:
            self._root = self.first_live(0)
        return self._root

    def first_live(self, v: int) -> int:
        """The lowest live position in v's subtree [v, end[v]), or -1."""
        e = self.tree.end[v]
        while v < e and self.out(v):
            v += 1
        return v if v < e else -1

    def live_ancestor(self, p: int) -> int:
        """Nearest live proper ancestor of p, or -1."""
        q = self.tree.parent[p]
        while q >= 0 and self.out(q):
            q = self.tree.parent[q]
        return q

    def top(self, p: int) -> int:
        """The subtree whose summary live position p sends: the highest u above p with every
        position of [u, p) out (p is then the lowest live position of u's subtree)."""
        parent = self.tree.parent
        u = p
        while parent[u] >= 0:
            w = parent[u]
            q = u - 1
            while q >= w and self.out(q):
                q -= 1
            if q >= w:
                break
            u = w
        return u

    def composer(self, v: int) -> int:
        """Who composes the summary of out position v: the lowest live position of its subtree,
        else (a subtree with no one left) the composer of its parent."""
        while True:
            q = self.first_live(v)
            if q >= 0:
                return q
            w = self.tree.parent[v]
            if w < 0:
                return -1
            if not self.out(w):
                return w
            v = w

    def miner(self, v: int) -> int:
        """Who mines what out position v left unmined: its nearest live ancestor (it holds v's
        records), else its composer."""
        q = self.live_ancestor(v)
        return q if q >= 0 else self.composer(v)

    def send_to(self, p: int) -> int:
        """Where live position p sends its summary; -1 for the acting root."""
        u = self.top(p)
        if u == 0:
            return -1
        w = self.tree.parent[u]
        return w if not self.out(w) else self.composer(w)

    def below(self, p: int) -> tuple[list[int], list[tuple[int, int]]]:
        """(out positions whose summary p composes, (reporter, subtree it reports) pairs)."""
        composed, reporters = [], []
        stack = [self.top(p)]
        while stack:
            v = stack.pop()
            if v != p:
                composed.append(v)
            for c in self.tree.children(v):
                if c == p:
                    stack.append(c)
                elif not self.out(c):
                    reporters.append((c, c))
                else:
                    q = self.first_live(c)
                    if q >= 0 and q != p:
                        reporters.append((q, c))
                    else:
                        stack.append(c)
        return composed, reporters

    def mined_by(self, p: int) -> list[int]:
        """The out positions whose leftover p mines: out descendants whose nearest live ancestor
        is p, and the out positions p composes that have no live ancestor."""
        out = []
        stack = list(self.tree.children(p))
        while stack:
            v = stack.pop()
            if self.out(v):
                out.append(v)
                stack.extend(self.tree.children(v))
        for v in self.below(p)[0]:
            if self.live_ancestor(v) < 0:
                out.append(v)
        return sorted(out)
