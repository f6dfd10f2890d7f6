"""The aggregation of aggregate.py run over simulated members: lossy rounds, failed members.

Nothing here models the aggregation: every member is a real AggNode; the simulation only
carries their messages (dropping each with probability ``loss``), kills members (before the
start, and some mid-run), and gives each member the XOR of the ranges it must mine, computed
once with numpy from the definition color_at(seed, i) = mix(seed + i * GOLDEN).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

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
    wall_s: float
    cpu_s: float
    plan_s: float


def simulate(n: int, k: int = 16, loss: float = 0.0, fail_start: float = 0.0, fail_mid: float = 0.0,
             seed: int = 7202985, per_member: int = 4, max_rounds: int = 500, rng_seed: int = 1,
             fail_round: int = 2) -> SimResult:
    t0, c0 = time.perf_counter(), time.process_time()
    total = n * per_member
    plan = Plan.make(seed, total, (f"m{i}" for i in range(n)), k)
    tree = Tree(n, k)
    t_plan = time.perf_counter() - t0
    col = colors(seed, 0, total)
    reference = int(np.bitwise_xor.reduce(col))
    starts = np.array([plan.start(p) for p in range(n)], dtype=np.int64) if n <= 1000 else \
        np.arange(n, dtype=np.int64) * (total // n)
    own_xor = np.bitwise_xor.reduceat(col, starts)
    del col
    rng = np.random.default_rng(rng_seed)
    view = View(tree)
    n_dead0 = int(fail_start * n)
    for p in rng.choice(n, size=n_dead0, replace=False).tolist():
        view.mark_dead(p)
    nodes: list[AggNode | None] = [None if view.out(p) else AggNode(p, tree, plan.start, view) for p in range(n)]
    remined = 0

    def mine(node: AggNode) -> int:
        got = 0
        for v in node.needs():
            node.set_own(v, int(own_xor[v]))
            got += v != node.pos
        return got

    for node in nodes:
        if node is not None:
            remined += mine(node)
    live = [p for p in range(n) if nodes[p] is not None]
    pending = set(live)  # live members without the Final
    messages = nbytes = sent_max = recv_max = 0
    sent_sum = live_rounds = 0
    sent_hist: dict[int, int] = {}
    failed_mid = 0
    rounds = 0
    while pending and rounds < max_rounds:
        rounds += 1
        if rounds == fail_round and fail_mid > 0:
            cand = [p for p in live if nodes[p] is not None]
            kill = rng.choice(len(cand), size=int(fail_mid * n), replace=False).tolist()
            for i in kill:
                p = cand[i]
                view.mark_dead(p)
                nodes[p] = None
                pending.discard(p)
            failed_mid = len(kill)
            touched = {view.miner(cand[i]) for i in kill}
            for a in touched:
                if a >= 0 and nodes[a] is not None:
                    nodes[a].view_changed()
                    remined += mine(nodes[a])
        outbox = []
        for p in live:
            node = nodes[p]
            if node is not None:
                msgs = node.tick()
                if msgs:
                    outbox.append((p, msgs))
        recv: dict[int, int] = {}
        drops = rng.random(sum(len(m) for _, m in outbox)) < loss if loss > 0 else None
        j = 0
        alive_now = sum(1 for p in live if nodes[p] is not None)
        live_rounds += alive_now
        sent_hist[0] = sent_hist.get(0, 0) + alive_now - len(outbox)
        for src, msgs in outbox:
            sent_hist[len(msgs)] = sent_hist.get(len(msgs), 0) + 1
            sent_sum += len(msgs)
            sent_max = max(sent_max, len(msgs))
            for dst, msg in msgs:
                messages += 1
                nbytes += len(msg.encode())
                lost = drops is not None and drops[j]
                j += 1
                if lost or nodes[dst] is None:
                    continue
                recv[dst] = recv.get(dst, 0) + 1
                nodes[dst].receive(src, msg)
                if isinstance(msg, Final):
                    pending.discard(dst)
        if recv:
            recv_max = max(recv_max, max(recv.values()))
        pending = {p for p in pending if nodes[p] is not None and nodes[p].final is None}
        live = [p for p in live if nodes[p] is not None]
    finals = {nodes[p].final for p in live if nodes[p] is not None}
    final = next(iter(finals)) if len(finals) == 1 else None
    verified = final is not None and None not in finals and not pending
    xor = final.xor if final else 0
    return SimResult(n, k, loss, n_dead0, failed_mid, tree.depth(), rounds, verified,
                     verified and xor == reference, xor, reference, messages, nbytes, sent_max, recv_max,
                     sent_sum / max(1, live_rounds), _quantile(sent_hist, 0.999), remined, time.perf_counter() - t0,
                     time.process_time() - c0, t_plan)


def _quantile(hist: dict[int, int], q: float) -> int:
    total = sum(hist.values())
    seen = 0
    for v in sorted(hist):
        seen += hist[v]
        if seen >= q * total:
            return v
    return 0
