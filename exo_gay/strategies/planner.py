"""The exact partition: contiguous layers over nodes in ring order, memory-safe by construction.

Decode time of a stage is the bytes it streams per token (weights + KV cache; the last
stage also the final norm and head) over its bandwidth, plus hop_ms per stage when there is
more than one. Objectives, both exact by dynamic programming over (node, layer boundary):
latency (sum of stages; a node may be left idle when that is faster) and throughput (the
slowest stage, ties broken by latency). Memory-infeasible segments cost +inf.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

INF = float("inf")
GB = 1e9


class PlanInfeasible(ValueError):
    """No contiguous split fits in the nodes' memory."""


@dataclass(frozen=True)
class Problem:
    """Everything the DP needs, as plain numbers (ring order fixed)."""

    time_bytes: tuple[float, ...]  # per layer: bytes streamed per token (weights + KV at context)
    mem_bytes: tuple[float, ...]  # per layer: bytes held (weights + KV at context)
    budgets: tuple[float, ...]  # per node, bytes
    gbps: tuple[float, ...]  # per node, > 0
    first_mem: float = 0.0  # held by the node with layer 0 (embedding)
    last_mem: float = 0.0  # held by the node with the last layer (final norm + head)
    last_time: float = 0.0  # streamed per token by that node (final norm + head)
    both_saving: float = 0.0  # held once, not twice, when one node has first and last layer (tied)
    hop_ms: float = 0.0

    @property
    def n_layers(self) -> int:
        return len(self.time_bytes)

    @property
    def n_nodes(self) -> int:
        return len(self.budgets)


@dataclass
class Plan:
    segments: list[tuple[int, int]]  # per node in ring order: [start, end) layers; start == end: none
    objective: str
    value: float  # ms: latency per token, or the slowest stage
    stage_ms: list[float] = field(default_factory=list)
    mem_bytes: list[float] = field(default_factory=list)

    @property
    def latency_ms(self) -> float:
        used = [t for t, (s, e) in zip(self.stage_ms, self.segments, strict=True) if e > s]
        return sum(used)

    @property
    def bottleneck_ms(self) -> float:
        return max((t for t, (s, e) in zip(self.stage_ms, self.segments, strict=True) if e > s), default=0.0)


def _tables(p: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    L = p.n_layers
    W = np.concatenate(([0.0], np.cumsum(np.asarray(p.time_bytes, dtype=np.float64))))
    M = np.concatenate(([0.0], np.cumsum(np.asarray(p.mem_bytes, dtype=np.float64))))
    T = W[None, :] - W[:, None]  # [s, e]: layers s..e-1
    Mm = M[None, :] - M[:, None]
    Mm[0, :] += p.first_mem
    Mm[:, L] += p.last_mem
    Mm[0, L] -= p.both_saving
    T[:, L] += p.last_time
    valid = np.triu(np.ones((L + 1, L + 1), dtype=bool), k=1)
    return T, Mm, valid


def segment_cost(p: Problem, node: int, s: int, e: int, n_used: int) -> tuple[float, float]:
    """(stage ms, bytes held) of layers [s, e) on a node, in a plan that uses n_used nodes."""
    if e <= s:
        return 0.0, 0.0
    L = p.n_layers
    tb = float(sum(p.time_bytes[s:e])) + (p.last_time if e == L else 0.0)
    mb = float(sum(p.mem_bytes[s:e])) + (p.first_mem if s == 0 else 0.0) + (p.last_mem if e == L else 0.0)
    if s == 0 and e == L:
        mb -= p.both_saving
    ms = tb / (p.gbps[node] * 1e6) + (p.hop_ms if n_used > 1 else 0.0)
    return ms, mb


def evaluate(p: Problem, segments: list[tuple[int, int]], objective: str) -> Plan:
    used = sum(1 for s, e in segments if e > s)
    costs = [segment_cost(p, j, s, e, used) for j, (s, e) in enumerate(segments)]
    plan = Plan(list(segments), objective, 0.0, [c[0] for c in costs], [c[1] for c in costs])
    plan.value = plan.latency_ms if objective == "latency" else plan.bottleneck_ms
    return plan


def _dp(p: Problem, T, Mm, valid, combine: str, require_all: bool, cap: float = INF):
    """Best cost over contiguous splits with a hop on every used stage; returns (value, segments)."""
    L, N = p.n_layers, p.n_nodes
    dp = np.full(L + 1, INF)
    dp[0] = 0.0
    args = np.zeros((N, L + 1), dtype=np.int64)
    diag = np.eye(L + 1, dtype=bool)
    for j in range(N):
        C = T * (1.0 / (p.gbps[j] * 1e6)) + p.hop_ms
        ok = valid & (Mm <= p.budgets[j])
        if cap < INF:
            ok &= C <= cap
        C = np.where(ok, C, INF)
        if not require_all:
            C[diag] = 0.0
        if combine == "sum":
            cand = dp[:, None] + C
        else:
            cand = np.maximum(dp[:, None], C)
        args[j] = np.argmin(cand, axis=0)
        dp = cand[args[j], np.arange(L + 1)]
    if not np.isfinite(dp[L]):
        return INF, None
    segs, e = [], L
    for j in range(N - 1, -1, -1):
        s = int(args[j][e])
        segs.append((s, e))
        e = s
    return float(dp[L]), segs[::-1]


def _best_single(p: Problem, Mm) -> tuple[float, int] | None:
    L = p.n_layers
    best = None
    for j in range(p.n_nodes):
        if Mm[0, L] <= p.budgets[j]:
            ms = (sum(p.time_bytes) + p.last_time) / (p.gbps[j] * 1e6)
            if best is None or ms < best[0]:
                best = (ms, j)
    return best


def solve(p: Problem, objective: str = "latency", require_all: bool = False) -> Plan:
    """The optimal plan for the objective; PlanInfeasible when no split fits.

    require_all: every node gets at least one layer (exo's ring needs each listed node to
    have a layer); infeasible when that cannot be done.
    """
    if objective not in ("latency", "throughput"):
        raise ValueError(f"objective must be latency or throughput, not {objective!r}")
    L, N = p.n_layers, p.n_nodes
    if L == 0 or N == 0:
        raise PlanInfeasible("nothing to plan: no layers or no nodes")
    if require_all and N > L:
        raise PlanInfeasible(f"{N} nodes cannot each get one of {L} layers")
    if any(not g > 0 for g in p.gbps):
        raise ValueError("every node needs a speed > 0 (nodes.build_nodes guarantees it)")
    T, Mm, valid = _tables(p)
    combine = "sum" if objective == "latency" else "max"
    value, segs = _dp(p, T, Mm, valid, combine, require_all)
    # the DP charged a hop to a lone stage; a one-node plan has none, so compare it apart
    single = _best_single(p, Mm) if (not require_all or N == 1) else None
    if single is not None and (segs is None or single[0] <= value):
        # keep empty segments positioned so that segments stay contiguous in ring order
        segs = [(0, 0)] * single[1] + [(0, L)] + [(L, L)] * (N - single[1] - 1)
        return evaluate(p, segs, objective)
    if segs is None:
        raise PlanInfeasible(shortfall_message(p, Mm))
    if objective == "throughput":
        # among plans with this bottleneck, the one with the least latency
        _, segs2 = _dp(p, T, Mm, valid, "sum", require_all, cap=value * (1 + 1e-12))
        if segs2 is not None:
            segs = segs2
    return evaluate(p, segs, objective)


def solve_keeping_nodes(p: Problem, objective: str = "latency", keep_all_nodes: bool = True) -> Plan:
    """solve(), giving every node a layer when keep_all_nodes and some plan can; else idle nodes allowed.

    exo's ring needs each listed node to have a layer, but a node too small (or a ring longer
    than the model) cannot: then the plan leaves it out rather than fail.
    """
    if keep_all_nodes and p.n_nodes <= p.n_layers:
        try:
            return solve(p, objective, require_all=True)
        except PlanInfeasible:
            pass
    return solve(p, objective, require_all=False)


def shortfall_message(p: Problem, Mm=None) -> str:
    L = p.n_layers
    if Mm is None:
        Mm = _tables(p)[1]
    need = float(Mm[0, L]) + (p.both_saving if p.n_nodes > 1 else 0.0)
    have = float(sum(p.budgets))
    if need > have:
        return (f"the model does not fit: it needs {need / GB:.2f} GB (weights + KV cache), the nodes' "
                f"budgets total {have / GB:.2f} GB: short by {(need - have) / GB:.2f} GB")
    big = max(p.mem_bytes) / GB
    return (f"no contiguous split fits although the budgets total {have / GB:.2f} GB for {need / GB:.2f} GB "
            f"needed: layers come in {big:.2f} GB pieces and the largest budget is {max(p.budgets) / GB:.2f} GB")
