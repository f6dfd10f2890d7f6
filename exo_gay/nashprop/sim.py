"""The aggregation of aggregate.py run over simulated members: lossy rounds, failed members.

Nothing here models the aggregation: every member is a real AggNode; the simulation only
carries their messages (dropping each with probability ``loss``), kills members (before the
start, and in any rounds), tells each live member of a death after its own delay (each member
has its own view when ``notice_delay`` > 0), and gives each member the XOR of the ranges it must
provide, computed once with numpy from the definition color_at(seed, i) = mix(seed + i * GOLDEN).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..kernels.numpy_cpu import colors
from .aggregate import AggNode, Final
from .plan import Plan, Tree, View


@dataclass
class SimResult:
    n: int
    k: int
    loss: float
    failed_start: int
    failed_mid: int
    depth: int
    rounds: int
    verified: bool
    exact: bool
    xor: int
    reference: int
    messages: int
    bytes: int
    sent_max: int  # most messages one member sent in one round
    recv_max: int  # most messages one member received in one round
    per_member_round: float  # messages sent per live member per round, mean
    sent_p999: int  # 99.9th percentile of messages one member sent in one round
    remined_positions: int
    records: int  # piece records sent (each in an envelope that goes anyway), pieces per range each
    audit_messages: int  # an audit query and its answer per record received
    liveliness_per_member: int  # tokens and departures each member's zenoh session sees (peer mode)
    wall_s: float
    cpu_s: float
    plan_s: float


@dataclass
class _Counts:
    messages: int = 0
    nbytes: int = 0
    sent_max: int = 0
    recv_max: int = 0
    sent_sum: int = 0
    live_rounds: int = 0
    remined: int = 0
    failed_mid: int = 0
    hist: dict[int, int] = field(default_factory=dict)


class _World:
    """The simulated members: nodes (None once dead), their views, the death notices on the way."""

    def __init__(self, n: int, k: int, plan: Plan, own_xor: np.ndarray, rng, own_views: bool):
        self.tree, self.plan, self.own_xor, self.rng = Tree(n, k), plan, own_xor, rng
        self.shared = None if own_views else View(self.tree)
        self.nodes: list[AggNode | None] = []
        self.notices: dict[int, list[tuple[int, int]]] = {}  # round -> (member, dead position)
        self.c = _Counts()

    def start(self, dead0: list[int]) -> None:
        dead = set(dead0)
        for p in range(self.tree.n):
            view = self.shared or View(self.tree, dead)
            self.nodes.append(None if p in dead else AggNode(p, self.tree, self.plan.start, view))
        if self.shared is not None:
            for p in dead:
                self.shared.mark_dead(p)
        for node in self.nodes:
            if node is not None:
                self.c.remined += self.mine(node)

    def mine(self, node: AggNode) -> int:
        got = 0
        for v in node.needs():
            got += v != node.pos and v not in node.got
            node.set_own(v, int(self.own_xor[v]))
        return got

    def kill(self, rnd: int, count: int, delay: int) -> None:
        cand = [p for p, node in enumerate(self.nodes) if node is not None]
        if count <= 0:
            return
        victims = [cand[i] for i in self.rng.choice(len(cand), size=min(count, len(cand) - 1), replace=False)]
        for p in victims:
            self.nodes[p] = None
        self.c.failed_mid += len(victims)
        if self.shared is not None:
            for p in victims:
                self.shared.mark_dead(p)
            for a in {self.shared.miner(p) for p in victims} | {self.shared.composer(p) for p in victims}:
                if a >= 0 and self.nodes[a] is not None:
                    self.nodes[a].view_changed()
                    self.c.remined += self.mine(self.nodes[a])
            return
        live = [p for p, node in enumerate(self.nodes) if node is not None]
        for m, d in zip(live, self.rng.integers(0, delay + 1, size=len(live)).tolist(), strict=True):
            for p in victims:
                self.notices.setdefault(rnd + d, []).append((m, p))

    def deliver_notices(self, rnd: int) -> None:
        touched = set()
        for m, p in self.notices.pop(rnd, []):
            node = self.nodes[m]
            if node is not None and not node.view.out(p):
                node.view.mark_dead(p)
                touched.add(m)
        for m in touched:
            self.nodes[m].view_changed()
            self.c.remined += self.mine(self.nodes[m])

    def round(self, loss: float) -> None:
        c, nodes = self.c, self.nodes
        outbox = [(p, msgs) for p, node in enumerate(nodes) if node is not None and (msgs := node.tick())]
        alive = sum(1 for node in nodes if node is not None)
        c.live_rounds += alive
        c.hist[0] = c.hist.get(0, 0) + alive - len(outbox)
        drops = self.rng.random(sum(len(m) for _, m in outbox)) < loss if loss > 0 else None
        recv: dict[int, int] = {}
        j = 0
        for src, msgs in outbox:
            c.hist[len(msgs)] = c.hist.get(len(msgs), 0) + 1
            c.sent_sum += len(msgs)
            c.sent_max = max(c.sent_max, len(msgs))
            for dst, msg in msgs:
                c.messages += 1
                c.nbytes += len(msg.encode())
                lost = drops is not None and drops[j]
                j += 1
                if not lost and nodes[dst] is not None:
                    recv[dst] = recv.get(dst, 0) + 1
                    nodes[dst].receive(src, msg)
        c.recv_max = max([c.recv_max, *recv.values()])

    def pending(self) -> bool:
        return any(node is not None and node.final is None for node in self.nodes)


def simulate(n: int, k: int = 16, loss: float = 0.0, fail_start: float = 0.0, fail_mid: float = 0.0,
             seed: int = 7202985, per_member: int = 4, max_rounds: int = 500, rng_seed: int = 1,
             fail_round: int = 2, fail_rounds: tuple[int, ...] | None = None, notice_delay: int = 0,
             pieces: int = 8) -> SimResult:
    """``fail_mid`` of the members are killed in each of ``fail_rounds`` (default: round
    ``fail_round`` only); with ``notice_delay`` d > 0 every member has its own view and hears of
    each death after its own 0..d rounds. Records, audits and liveliness are counted from the
    protocol's rules (``pieces`` records per range mined, one audit query and answer per record,
    every token and departure seen by every member in a zenoh peer mesh), not carried."""
    t0, c0 = time.perf_counter(), time.process_time()
    total = n * per_member
    plan = Plan.make(seed, total, (f"m{i}" for i in range(n)), k)
    t_plan = time.perf_counter() - t0
    col = colors(seed, 0, total)
    reference = int(np.bitwise_xor.reduce(col))
    starts = np.arange(n, dtype=np.int64) * (total // n)
    own_xor = np.bitwise_xor.reduceat(col, starts)
    del col
    rng = np.random.default_rng(rng_seed)
    w = _World(n, k, plan, own_xor, rng, own_views=notice_delay > 0)
    n_dead0 = int(fail_start * n)
    w.start(rng.choice(n, size=n_dead0, replace=False).tolist())
    kill_rounds = set(fail_rounds if fail_rounds is not None else (fail_round,))
    rounds = 0
    while w.pending() and rounds < max_rounds:
        rounds += 1
        if rounds in kill_rounds and fail_mid > 0:
            w.kill(rounds, int(fail_mid * n), notice_delay)
        w.deliver_notices(rounds)
        w.round(loss)
    return _result(w, n, k, loss, n_dead0, rounds, reference, t0, c0, t_plan, pieces)


def _result(w: _World, n, k, loss, n_dead0, rounds, reference, t0, c0, t_plan, pieces=8) -> SimResult:
    live = [node for node in w.nodes if node is not None]
    # every live member holds a Final and they all carry one XOR (an acting root killed after
    # making its Final is replaced, and the new one's Final counts other takeovers: same XOR)
    xors = {node.final.xor if isinstance(node.final, Final) else None for node in live}
    verified = len(xors) == 1 and None not in xors
    xor = next(iter(xors)) if verified else 0
    c = w.c
    records = pieces * (n - n_dead0 + c.remined)
    return SimResult(n, k, loss, n_dead0, c.failed_mid, w.tree.depth(), rounds, verified,
                     verified and xor == reference, xor, reference, c.messages, c.nbytes, c.sent_max, c.recv_max,
                     c.sent_sum / max(1, c.live_rounds), _quantile(c.hist, 0.999), c.remined, records, 2 * records,
                     n - n_dead0 + c.failed_mid, time.perf_counter() - t0, time.process_time() - c0, t_plan)


def _quantile(hist: dict[int, int], q: float) -> int:
    total = sum(hist.values())
    seen = 0
    for v in sorted(hist):
        seen += hist[v]
        if seen >= q * total:
            return v
    return 0
