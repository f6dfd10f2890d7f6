"""The tree aggregation of NashProp, pure: one AggNode per member, driven by a transport.

The same code runs inside real members (run.py, messages over zenoh) and in the simulation
(benchmarks/bench_nashprop_sim.py, messages in lists, with loss and failed members).
Each sync round a member whose subtree is complete sends ONE summary (its subtree's span of
positions and colors and their XOR) to the member it reports to; the acting root turns the
whole tree's summary into the Final, which goes back down the same edges. So a member sends one
message up per round and receives at most its k children's: O(1) whatever the membership.
A lost message is harmless: a member resends its summary every round until the Final reaches
it, and a member holding the Final answers any summary with it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable

from .plan import Tree, View

_SUMMARY = struct.Struct(">BQQQQQQB")
_FINAL = struct.Struct(">BQQQQQQ")
_OWN = struct.Struct(">BQQ")
KIND_SUMMARY, KIND_FINAL, KIND_OWN = 1, 2, 3


@dataclass(frozen=True)
class Summary:
    """A complete subtree: positions [lo, hi), colors [col_lo, col_hi), their XOR, and how many
    out positions inside were taken over."""

    lo: int
    hi: int
    col_lo: int
    col_hi: int
    xor: int
    takeovers: int
    flags: int = 0

    def encode(self) -> bytes:
        return _SUMMARY.pack(KIND_SUMMARY, self.lo, self.hi, self.col_lo, self.col_hi - self.col_lo,
                             self.xor, self.takeovers, self.flags)


@dataclass(frozen=True)
class Final:
    """The acting root's verified result: the XOR of [0, total) over n positions."""

    xor: int
    total: int
    n: int
    takeovers: int
    excluded: int
    root: int

    def encode(self) -> bytes:
        return _FINAL.pack(KIND_FINAL, self.xor, self.total, self.n, self.takeovers, self.excluded, self.root)


@dataclass(frozen=True)
class Own:
    """The XOR of out position v's whole range, from its miner to its composer."""

    v: int
    xor: int

    def encode(self) -> bytes:
        return _OWN.pack(KIND_OWN, self.v, self.xor)


def decode(data: bytes) -> Summary | Final | Own:
    """A Summary, Final or Own from its wire bytes; ValueError on anything else."""
    if len(data) == _OWN.size and data[0] == KIND_OWN:
        _, v, xor = _OWN.unpack(data)
        return Own(v, xor)
    if len(data) == _SUMMARY.size and data[0] == KIND_SUMMARY:
        _, lo, hi, col_lo, cols, xor, tk, flags = _SUMMARY.unpack(data)
        return Summary(lo, hi, col_lo, col_lo + cols, xor, tk, flags)
    if len(data) == _FINAL.size and data[0] == KIND_FINAL:
        _, xor, total, n, tk, ex, root = _FINAL.unpack(data)
        return Final(xor, total, n, tk, ex, root)
    raise ValueError(f"not a NashProp summary, final or own ({len(data)} bytes)")


def check_parts(span: Callable[[int], tuple[int, int, int, int]], summary: Summary,
                owns: list[tuple[int, int]], subs: list[Summary]) -> str | None:
    """Why ``summary`` is not the sum of its parts (None when it is): the positions composed
    (``owns``: position and the XOR of its range) and the subtrees reported (``subs``) must tile
    the summary's span exactly, each sub be its subtree's span, and the XORs add up."""
    if (summary.lo, summary.hi, summary.col_lo, summary.col_hi) != span(summary.lo):
        return "its summary's span is not a subtree"
    pieces = sorted([(v, v + 1) for v, _ in owns] + [(s.lo, s.hi) for s in subs])
    at = summary.lo
    for a, b in pieces:
        if a != at:
            return f"its parts do not tile positions [{summary.lo}, {summary.hi})"
        at = b
    if at != summary.hi:
        return f"its parts do not tile positions [{summary.lo}, {summary.hi})"
    x = 0
    for s in subs:
        if (s.lo, s.hi, s.col_lo, s.col_hi) != span(s.lo):
            return "a part's span is not a subtree"
        x ^= s.xor
    for _, v in owns:
        x ^= v
    if x != summary.xor:
        return "its summary's XOR is not the XOR of its parts"
    return None


class _Derived:
    """What a member derives from one version of the view (cached until the view changes)."""

    __slots__ = ("version", "top", "send_to", "composed", "reporters", "mined", "own_to")

    def __init__(self, view: View, pos: int):
        self.version = view.version
        self.top = view.top(pos)
        self.send_to = view.send_to(pos)
        composed, reporters = view.below(pos)
        self.composed = set(composed)
        self.reporters = sorted({r for r, _ in reporters})
        self.mined = view.mined_by(pos)
        self.own_to = {v: c for v in self.mined if (c := view.composer(v)) != pos}


class AggNode:
    """One member's side of the aggregation. ``start(p)`` is position p's first color
    (start(n) = total); ``view`` the shared out set and takeover rule; ``own`` the XOR of each
    position's range this member mined (its own, and the out positions it mines for)."""

    __slots__ = ("pos", "tree", "start", "view", "own", "got", "got_from", "final", "ready", "_cache",
                 "_replies", "_d", "_up_at_final")

    def __init__(self, pos: int, tree: Tree, start: Callable[[int], int], view: View):
        self.pos, self.tree, self.start, self.view = pos, tree, start, view
        self.own: dict[int, int] = {}
        self.got: dict[int, Summary] = {}  # subtree root -> its complete summary
        self.got_from: dict[int, int] = {}  # subtree root -> who sent it
        self.final: Final | None = None
        self.ready = True  # the transport clears it while audits of what it received are pending
        self._cache: Summary | None = None
        self._replies: set[int] = set()
        self._d: _Derived | None = None
        self._up_at_final = -1  # where I reported when the Final reached me

    def derived(self) -> _Derived:
        if self._d is None or self._d.version != self.view.version:
            self._d = _Derived(self.view, self.pos)
            self._cache = None
        return self._d

    # -------------------------------------------------------------- inputs
    def set_own(self, v: int, xor: int) -> None:
        self.own[v] = xor
        self._cache = None

    def view_changed(self) -> None:
        """Call after the view's out set grew: drops what an excluded member sent."""
        for lo, src in list(self.got_from.items()):
            if src in self.view.excluded:
                del self.got[lo], self.got_from[lo]
        self._d = None
        self._cache = None

    def forget(self, lo: int) -> None:
        """Drop the summary of subtree ``lo`` (its sender left before it could be trusted)."""
        self.got.pop(lo, None)
        self.got_from.pop(lo, None)
        self._cache = None

    def span(self, v: int) -> tuple[int, int, int, int]:
        e = self.tree.end[v]
        return v, e, self.start(v), self.start(e)

    def receive(self, src: int, msg: Summary | Final | Own) -> bool:
        """Take a message from position ``src``; False when it is refused (a span that is not
        src's subtree nor the one it reports, an excluded sender, a second different Final)."""
        if not 0 <= src < self.tree.n or src in self.view.excluded:
            return False
        if isinstance(msg, Summary):
            if msg.lo != src and msg.lo != self.view.top(src):
                return False
            if not 0 <= msg.lo < self.tree.n or (msg.lo, msg.hi, msg.col_lo, msg.col_hi) != self.span(msg.lo):
                return False
            self.got[msg.lo] = msg
            self.got_from[msg.lo] = src
            self._cache = None
            if self.final is not None:
                self._replies.add(src)
            return True
        if isinstance(msg, Own):
            if not 0 <= msg.v < self.tree.n or not self.view.out(msg.v):
                return False
            if self.own.get(msg.v) != msg.xor:
                self.set_own(msg.v, msg.xor)
            return True
        if isinstance(msg, Final):
            if msg.total != self.start(self.tree.n) or msg.n != self.tree.n:
                return False
            if self.final is None:
                self.final = msg
                self._replies.update(self.derived().reporters)
                self._up_at_final = self.derived().send_to
            return msg == self.final
        return False

    # -------------------------------------------------------------- what is missing
    def needs(self) -> list[int]:
        """Positions whose range XOR this member must still provide: its own, then each out
        position it mines for (the takeovers). A gone member whose complete summary arrived
        still counts: the promoted member that now composes its place needs its own range's
        XOR (which its miner has from the records it audited, so nothing is mined again)."""
        d = self.derived()
        out = [] if self.pos in self.own else [self.pos]
        for v in d.mined:
            if v not in self.own:
                out.append(v)
        return out

    def compose(self) -> Summary | None:
        """The summary of top(pos), or None while something in it is missing."""
        d = self.derived()
        if self._cache is None:
            self._cache = self._compose(d.top, d)
        return self._cache

    def _compose(self, v: int, d: _Derived) -> Summary | None:
        x = self.own.get(v)
        if x is None:
            return None
        tk = 0 if v == self.pos else 1
        for c in self.tree.children(v):
            if c == self.pos or (c in d.composed and c not in self.got):
                s = self._compose(c, d)
            else:
                s = self.got.get(c)
            if s is None:
                return None
            x ^= s.xor
            tk += s.takeovers
        lo, hi, a, b = self.span(v)
        return Summary(lo, hi, a, b, x, tk)

    def parts(self) -> tuple[list[tuple[int, int]], list[int]] | None:
        """What compose() used: (position, own XOR) for each position composed here, and the
        roots of the subtrees whose received summaries it used; None while incomplete."""
        if self.compose() is None:
            return None
        d = self.derived()
        owns: list[tuple[int, int]] = []
        subs: list[int] = []
        stack = [d.top]
        while stack:
            v = stack.pop()
            owns.append((v, self.own[v]))
            for c in self.tree.children(v):
                if c == self.pos or (c in d.composed and c not in self.got):
                    stack.append(c)
                else:
                    subs.append(c)
        return owns, subs

    # -------------------------------------------------------------- one sync round
    def tick(self) -> list[tuple[int, Summary | Final | Own]]:
        """The messages of this round, as (destination position, message)."""
        d = self.derived()
        out: list[tuple[int, Summary | Final | Own]] = []
        # Owns go on after the Final: a member promoted after the Final reached its parent
        # composes the gone member's place and needs that range's XOR to report (and be answered)
        for v, c in d.own_to.items():
            if v in self.own and c >= 0 and (self.final is None or c not in self.view.dead):
                out.append((c, Own(v, self.own[v])))
        if self.final is not None:
            out += [(r, self.final) for r in sorted(self._replies)]
            self._replies.clear()
            # the member I report to changed since the Final reached me (a promotion after a
            # death): it may need my summary to compose its own, and then it will ask for the Final
            if d.send_to >= 0 and d.send_to != self._up_at_final and (s := self.compose()) is not None:
                out.append((d.send_to, s))
            return out
        if not self.ready:
            return out
        s = self.compose()
        if s is None:
            return out
        if d.send_to >= 0:
            out.append((d.send_to, s))
            return out
        if (s.lo, s.hi, s.col_lo, s.col_hi) != (0, self.tree.n, 0, self.start(self.tree.n)):
            return out  # cannot happen for a composed tree: refuse rather than claim coverage
        self.final = Final(s.xor, s.col_hi, self.tree.n, s.takeovers, len(self.view.excluded), self.pos)
        return out + [(r, self.final) for r in d.reporters]
