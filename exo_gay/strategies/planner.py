"""The plan: which nodes, in which ring order, hold which contiguous layers; memory-safe by construction.

The time model keeps its three terms apart (docs/partitioning.md, "The time model"):
- decode, per token: a stage streams its bytes (attention weights + the KV cache read at the
  context, norms, the FFN weights a token uses: an MoE's active experts only; the last stage also
  the final norm and head) at its memory bandwidth; roofline max with its FLOPs over its compute;
- prefill of a P-token prompt: a stage's FLOPs (weights: 2 x active parameters per token;
  attention: grows with the context) over its compute, roofline max with its weight bytes over
  its bandwidth;
- hops: hop_ms per stage and pass when more than one stage runs.
Objectives: latency (decode ms per token, one request), throughput (the slowest decode stage:
pipelined requests), ttft (ms to the first token), both (ttft + gen_tokens x decode ms: a whole request).

The solver chooses the ring order as well as the split. Nodes with identical figures are
interchangeable, so it searches count vectors of node types (exact: a DP over (types used, layer
boundary)); when that space is too large, the best fixed-order DP over a few orders (a heuristic;
benchmarks/bench_plans.py measures its gap). Memory-infeasible segments cost +inf. A node is left
out unless the caller requires every node (require_all) or keeping it costs nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

import numpy as np

INF = float("inf")
GB = 1e9
OBJECTIVES = ("latency", "throughput", "ttft", "both")
# exact search while (count-vector states x node types x (layers + 1)^2) stays under this many cells
EXACT_WORK = 5e6
SWAP_SPAN = 6  # the heuristic's local search swaps nodes among the first few places of its best ring
BIG_RING = 12  # beyond this many nodes the heuristic tries fewer orders and swaps (planning stays fast)
TERMS = ("MINUS", "ERGODIC", "PLUS")  # attention + KV, norms + hops, FFN (+ head)


class PlanInfeasible(ValueError):
    """No contiguous split fits in the nodes' memory."""


@dataclass(frozen=True)
class Problem:
    """Everything the solver needs, as plain numbers. Nodes in a canonical order (ties go to the first)."""

    time_bytes: tuple[float, ...]  # per layer: bytes streamed per decoded token (weights read + KV at context)
    mem_bytes: tuple[float, ...]  # per layer: bytes held (every expert + KV at context)
    budgets: tuple[float, ...]  # per node, bytes
    gbps: tuple[float, ...]  # per node memory bandwidth, GB/s, > 0
    first_mem: float = 0.0  # held by the node with layer 0 (embedding)
    last_mem: float = 0.0  # held by the node with the last layer (final norm + head)
    last_time: float = 0.0  # streamed per token by that node (final norm + head)
    both_saving: float = 0.0  # held once, not twice, when one node has first and last layer (tied)
    hop_ms: float = 0.0
    tflops: tuple[float, ...] = ()  # per node dense compute, TFLOPS; () = no compute term
    decode_flops: tuple[float, ...] = ()  # per layer FLOPs of one decoded token
    prefill_flops: tuple[float, ...] = ()  # per layer FLOPs of the whole prompt
    prefill_bytes: tuple[float, ...] = ()  # per layer bytes a prefill reads once (all weights); () = mem_bytes
    last_prefill_flops: float = 0.0  # the head over the prompt
    # per layer (MINUS, ERGODIC, PLUS) shares: decode bytes and prefill FLOPs, for the bounding term only
    decode_parts: tuple[tuple[float, float, float], ...] = ()
    prefill_parts: tuple[tuple[float, float, float], ...] = ()
    gen_tokens: int = 256  # the "both" objective: a request = prefill + this many decoded tokens

    @property
    def n_layers(self) -> int:
        return len(self.time_bytes)

    @property
    def n_nodes(self) -> int:
        return len(self.budgets)


@dataclass
class Plan:
    segments: list[tuple[int, int]]  # per node (Problem order): [start, end) layers; start == end: left out
    objective: str
    value: float  # ms: the objective's value
    stage_ms: list[float] = field(default_factory=list)  # per node, in the objective's units, hop included
    mem_bytes: list[float] = field(default_factory=list)
    decode_ms: list[float] = field(default_factory=list)  # per node: decode ms per token, hop included
    prefill_ms: list[float] = field(default_factory=list)  # per node: prefill ms of the prompt, hop included
    terms_ms: list[tuple[float, float, float]] = field(default_factory=list)  # per node (MINUS, ERGODIC, PLUS)
    exact: bool = True  # False: the heuristic order search chose it

    @property
    def order(self) -> list[int]:
        """Node indices in pipeline order (the nodes with layers)."""
        return sorted((j for j, (s, e) in enumerate(self.segments) if e > s), key=lambda j: self.segments[j][0])

    @property
    def latency_ms(self) -> float:
        return sum(t for t, (s, e) in zip(self.decode_ms, self.segments, strict=True) if e > s)

    @property
    def bottleneck_ms(self) -> float:
        return max((t for t, (s, e) in zip(self.decode_ms, self.segments, strict=True) if e > s), default=0.0)

    @property
    def ttft_ms(self) -> float:
        return sum(t for t, (s, e) in zip(self.prefill_ms, self.segments, strict=True) if e > s)

    @property
    def tokens_per_s(self) -> float:
        return 1000.0 / self.latency_ms if self.latency_ms > 0 else INF

    def polarity(self, j: int) -> str:
        """The term that bounds node j on this model: MINUS, ERGODIC or PLUS ("" when it holds nothing)."""
        s, e = self.segments[j]
        if e <= s:
            return ""
        t = self.terms_ms[j]
        return TERMS[max(range(3), key=lambda i: (t[i], -i))]


# ----------------------------------------------------------------------------- the time model

def _cum(x) -> np.ndarray:
    return np.concatenate(([0.0], np.cumsum(np.asarray(x, dtype=np.float64))))


def _span(c: np.ndarray) -> np.ndarray:
    return c[None, :] - c[:, None]  # [s, e]: layers s..e-1


class _Model:
    """Per-segment matrices shared by every node: bytes, FLOPs, memory ([s, e] = layers s..e-1)."""

    def __init__(self, p: Problem):
        L = p.n_layers
        self.L = L
        self.dec_b = _span(_cum(p.time_bytes))
        self.dec_b[:, L] += p.last_time
        self.dec_f = _span(_cum(p.decode_flops)) if p.decode_flops else None
        pb = p.prefill_bytes or p.mem_bytes
        self.pre_b = _span(_cum(pb))
        self.pre_b[:, L] += p.last_time
        self.pre_f = None
        if p.prefill_flops:
            self.pre_f = _span(_cum(p.prefill_flops))
            self.pre_f[:, L] += p.last_prefill_flops
        self.mem = _span(_cum(p.mem_bytes))
        self.mem[0, :] += p.first_mem
        self.mem[:, L] += p.last_mem
        self.mem[0, L] -= p.both_saving
        self.valid = np.triu(np.ones((L + 1, L + 1), dtype=bool), k=1)

    def decode(self, p: Problem, j: int) -> np.ndarray:
        t = self.dec_b * (1.0 / (p.gbps[j] * 1e6))
        if self.dec_f is not None and p.tflops:
            t = np.maximum(t, self.dec_f * (1.0 / (p.tflops[j] * 1e9)))
        return t

    def prefill(self, p: Problem, j: int) -> np.ndarray:
        t = self.pre_b * (1.0 / (p.gbps[j] * 1e6))
        if self.pre_f is not None and p.tflops:
            t = np.maximum(t, self.pre_f * (1.0 / (p.tflops[j] * 1e9)))
        return t

    def cost(self, p: Problem, j: int, objective: str) -> np.ndarray:
        """Stage ms of node j on every segment, hops included, +inf where it does not fit."""
        if objective in ("latency", "throughput"):
            c = self.decode(p, j) + p.hop_ms
        elif objective == "ttft":
            c = self.prefill(p, j) + p.hop_ms
        else:
            c = self.prefill(p, j) + p.gen_tokens * self.decode(p, j) + (1 + p.gen_tokens) * p.hop_ms
        return np.where(self.valid & (self.mem <= p.budgets[j]), c, INF)


def _hops(p: Problem, objective: str) -> float:
    return (1 + p.gen_tokens) * p.hop_ms if objective == "both" else p.hop_ms


def evaluate(p: Problem, segments: list[tuple[int, int]], objective: str, exact: bool = True) -> Plan:
    """Every figure of a plan given as per-node segments (any node order), scored by the time model."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    L = p.n_layers
    used = [j for j, (s, e) in enumerate(segments) if e > s]
    hop = p.hop_ms if len(used) > 1 else 0.0
    dparts = p.decode_parts or tuple((0.0, 0.0, float(b)) for b in p.time_bytes)
    pparts = p.prefill_parts or tuple((0.0, 0.0, float(f)) for f in (p.prefill_flops or (0.0,) * L))
    stage, mem, dec, pre, terms = [], [], [], [], []
    for j, (s, e) in enumerate(segments):
        if e <= s:
            stage.append(0.0), mem.append(0.0), dec.append(0.0), pre.append(0.0), terms.append((0.0, 0.0, 0.0))
            continue
        db = float(sum(p.time_bytes[s:e])) + (p.last_time if e == L else 0.0)
        mb = float(sum(p.mem_bytes[s:e])) + (p.first_mem if s == 0 else 0.0) + (p.last_mem if e == L else 0.0)
        if s == 0 and e == L:
            mb -= p.both_saving
        bw, tf = p.gbps[j] * 1e6, (p.tflops[j] * 1e9 if p.tflops else INF)
        d_mem = db / bw
        d_cmp = float(sum(p.decode_flops[s:e])) / tf if p.decode_flops else 0.0
        pb = float(sum((p.prefill_bytes or p.mem_bytes)[s:e])) + (p.last_time if e == L else 0.0)
        pf = float(sum(p.prefill_flops[s:e])) + (p.last_prefill_flops if e == L else 0.0) if p.prefill_flops else 0.0
        p_mem, p_cmp = pb / bw, pf / tf
        d_ms, p_ms = max(d_mem, d_cmp), max(p_mem, p_cmp)
        dec.append(d_ms + hop)
        pre.append(p_ms + hop)
        # the bounding term: the decode bytes by part (the head reads as PLUS), or prefill FLOPs by part
        dp = [sum(x[i] for x in dparts[s:e]) for i in range(3)]
        dp[2] += p.last_time if e == L else 0.0
        dpart = [x / bw for x in dp]
        pp = [sum(x[i] for x in pparts[s:e]) for i in range(3)]
        pp[2] += p.last_prefill_flops if e == L else 0.0
        ppart = [x / tf for x in pp] if p_cmp >= p_mem else [x * p_mem / max(sum(dp), 1e-300) for x in dp]
        if objective in ("latency", "throughput"):
            t = dpart
            st_ms = d_ms + hop
        elif objective == "ttft":
            t = ppart
            st_ms = p_ms + hop
        else:
            t = [a + p.gen_tokens * b for a, b in zip(ppart, dpart, strict=True)]
            st_ms = p_ms + p.gen_tokens * d_ms + (1 + p.gen_tokens) * hop
        t[1] += (1 + p.gen_tokens if objective == "both" else 1) * hop
        stage.append(st_ms), mem.append(mb), terms.append((t[0], t[1], t[2]))
    plan = Plan(list(segments), objective, 0.0, stage, mem, dec, pre, terms, exact)
    used_ms = [stage[j] for j in used]
    plan.value = (max(used_ms, default=0.0) if objective == "throughput" else sum(used_ms))
    return plan


# ----------------------------------------------------------------------------- the search

def _types(p: Problem) -> list[list[int]]:
    """Groups of interchangeable nodes (same budget, bandwidth, compute), in first-seen order."""
    groups: dict[tuple, list[int]] = {}
    for j in range(p.n_nodes):
        groups.setdefault((p.budgets[j], p.gbps[j], p.tflops[j] if p.tflops else 0.0), []).append(j)
    return list(groups.values())


def _combine(combine: str, row: np.ndarray, C: np.ndarray) -> np.ndarray:
    return row[:, None] + C if combine == "sum" else np.maximum(row[:, None], C)


def _exact(p: Problem, model: _Model, objective: str, require_all: bool, combine: str, cap: float = INF):
    """DP over (how many nodes of each type are used, layer boundary). Returns (value, segments) or None."""
    L = model.L
    types = _types(p)
    counts = [len(t) for t in types]
    costs = []
    for t in types:
        C = model.cost(p, t[0], objective)
        if cap < INF:
            C = np.where(C <= cap, C, INF)
        costs.append(C)
    start = np.full(L + 1, INF)
    start[0] = 0.0
    rows: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {(0,) * len(types): (start, None, None)}
    states = sorted(product(*(range(c + 1) for c in counts)), key=lambda v: (sum(v), tuple(-x for x in v)))
    cols = np.arange(L + 1)
    for state in states:
        if state not in rows:
            continue
        row = rows[state][0]
        live = np.isfinite(row)
        if not live[:L].any():
            continue
        for ti, C in enumerate(costs):
            if state[ti] >= counts[ti]:
                continue
            cand = _combine(combine, row, C)
            best_s = np.argmin(cand, axis=0)
            val = cand[best_s, cols]
            nxt = state[:ti] + (state[ti] + 1,) + state[ti + 1:]
            have = rows.get(nxt)
            if have is None:
                rows[nxt] = (val, np.full(L + 1, ti), best_s)
            else:
                better = val < have[0]
                if better.any():
                    rows[nxt] = (np.where(better, val, have[0]), np.where(better, ti, have[1]),
                                 np.where(better, best_s, have[2]))
    full = tuple(counts)
    finals = [s for s in rows if sum(s) > 0 and (not require_all or s == full) and np.isfinite(rows[s][0][L])]
    if not finals:
        return None
    single_fix = _hops(p, objective)

    def final_value(s):
        v = float(rows[s][0][L])
        return v - single_fix if sum(s) == 1 else v

    # least time; on a tie (within 1e-12) the plan keeping more nodes, then the first state
    best_v = min(final_value(s) for s in finals)
    best = max((s for s in finals if final_value(s) <= best_v * (1 + 1e-12) + 1e-15), key=lambda s: (sum(s), s))
    # walk back: (type, start) per stage, last stage first
    stages, state, e = [], best, L
    while sum(state) > 0:
        _, ti_row, s_row = rows[state]
        ti, s = int(ti_row[e]), int(s_row[e])
        stages.append((ti, s, e))
        state = state[:ti] + (state[ti] - 1,) + state[ti + 1:]
        e = s
    segs = [(0, 0)] * p.n_nodes
    taken = [0] * len(types)
    for ti, s, e in reversed(stages):
        j = types[ti][taken[ti]]  # interchangeable nodes: the first of the type in Problem order
        taken[ti] += 1
        segs[j] = (s, e)
    return final_value(best), segs


def _node_costs(p: Problem, model: _Model, objective: str, require_all: bool, combine: str,
                cap: float = INF) -> list[np.ndarray]:
    """Each node's segment-cost matrix for the ring DP (computed once per type; a skipped node costs nothing)."""
    by_type: dict[tuple, np.ndarray] = {}
    out = []
    diag = np.eye(model.L + 1, dtype=bool)
    for j in range(p.n_nodes):
        key = (p.budgets[j], p.gbps[j], p.tflops[j] if p.tflops else 0.0)
        C = by_type.get(key)
        if C is None:
            C = model.cost(p, j, objective)
            if cap < INF:
                C = np.where(C <= cap, C, INF)
            if not require_all:
                C = np.where(diag, 0.0 if combine == "sum" else -INF, C)
            by_type[key] = C
        out.append(C)
    return out


def _fixed_order(p: Problem, model: _Model, order: list[int], objective: str, require_all: bool,
                 combine: str, cap: float = INF, costs: list[np.ndarray] | None = None):
    """Best split for one ring order (nodes may be left out unless require_all)."""
    L = model.L
    if costs is None:
        costs = _node_costs(p, model, objective, require_all, combine, cap)
    dp = np.full(L + 1, INF)
    dp[0] = 0.0
    args = []
    cols = np.arange(L + 1)
    for j in order:
        live = np.flatnonzero(np.isfinite(dp))  # only reachable boundaries can start a stage
        if len(live) == 0:
            return None
        C = costs[j]
        if len(live) == L + 1:
            a = np.argmin(_combine(combine, dp, C), axis=0)
        else:
            a = live[np.argmin(_combine(combine, dp[live], C[live]), axis=0)]
        args.append(a)
        step = C[a, cols]
        dp = dp[a] + step if combine == "sum" else np.maximum(dp[a], step)
    if not np.isfinite(dp[L]):
        return None
    segs = [(0, 0)] * p.n_nodes
    e = L
    for j, a in zip(reversed(order), reversed(args), strict=True):
        s = int(a[e])
        segs[j] = (s, e) if e > s else (0, 0)
        e = s
    used = sum(1 for s, e in segs if e > s)
    v = float(dp[L]) - (_hops(p, objective) if used == 1 else 0.0)
    return v, segs


def _heuristic_orders(p: Problem) -> list[list[int]]:
    n = range(p.n_nodes)
    tf = p.tflops or (0.0,) * p.n_nodes
    keys = [lambda j: (-p.gbps[j], -p.budgets[j], j), lambda j: (-p.budgets[j], -p.gbps[j], j),
            lambda j: (-tf[j], -p.gbps[j], j), lambda j: (p.budgets[j], -p.gbps[j], j),
            lambda j: (-p.gbps[j] * p.budgets[j], j)]
    if p.n_nodes > BIG_RING:
        keys = keys[:3]
    orders = []
    for k in keys:
        o = sorted(n, key=k)
        for cand in (o, o[::-1]):
            if cand not in orders:
                orders.append(cand)
    return orders


def exact_work(p: Problem) -> float:
    states = 1
    types = _types(p)
    for t in types:
        states *= len(t) + 1
    return states * len(types) * (p.n_layers + 1) ** 2


def _search(p, model, objective, require_all, combine, exact, cap=INF, fixed=False):
    if exact and not fixed:
        return _exact(p, model, objective, require_all, combine, cap)
    best, best_order = None, None
    if not require_all or p.n_nodes == 1:
        # a lone stage pays no hop, which the ring DP charged it: the best single node, apart
        L = model.L
        for j in range(p.n_nodes):
            v = float(model.cost(p, j, objective)[0, L]) - _hops(p, objective)
            if v < INF and v <= cap and (best is None or v < best[0] * (1 - 1e-12)):
                segs = [(0, 0)] * p.n_nodes
                segs[j] = (0, L)
                best, best_order = (v, segs), [j] + [k for k in range(p.n_nodes) if k != j]
    costs = _node_costs(p, model, objective, require_all, combine, cap)
    if fixed:  # the ring order is given (exo v1 fixes it): exact for that order
        r = _fixed_order(p, model, list(range(p.n_nodes)), objective, require_all, combine, cap, costs)
        if r is not None and (best is None or r[0] < best[0] * (1 - 1e-12)):
            best = r
        return best
    kind = [(p.budgets[j], p.gbps[j], p.tflops[j] if p.tflops else 0.0) for j in range(p.n_nodes)]
    seen: set[tuple] = set()
    for order in _heuristic_orders(p):
        sig = tuple(kind[j] for j in order)  # orders alike up to interchangeable nodes give one answer
        if sig in seen:
            continue
        seen.add(sig)
        r = _fixed_order(p, model, order, objective, require_all, combine, cap, costs)
        if r is not None and (best is None or r[0] < best[0] * (1 - 1e-12)):
            best, best_order = r, order
    if best is None:
        return None
    # local search: swap two of the first SWAP_SPAN places of the best ring (its used nodes first)
    segs = best[1]
    used = sorted((j for j, (s, e) in enumerate(segs) if e > s), key=lambda j: segs[j][0])
    order = used + [j for j in best_order if j not in used]
    for _ in range(2 if p.n_nodes <= BIG_RING else 1):
        improved = False
        span = min(len(order), SWAP_SPAN if p.n_nodes <= BIG_RING else SWAP_SPAN - 2)
        for a in range(span):
            for b in range(a + 1, span):
                if kind[order[a]] == kind[order[b]]:
                    continue  # swapping interchangeable nodes changes nothing
                cand = list(order)
                cand[a], cand[b] = cand[b], cand[a]
                r = _fixed_order(p, model, cand, objective, require_all, combine, cap, costs)
                if r is not None and r[0] < best[0] * (1 - 1e-12):
                    best, order, improved = r, cand, True
        if not improved:
            break
    return best


def solve(p: Problem, objective: str = "latency", require_all: bool = False, exact: bool | None = None,
          choose_order: bool = False) -> Plan:
    """The best plan for the objective; PlanInfeasible when nothing fits.

    choose_order False (the default, as before): the ring order is the Problem's node order, and the
    split is exact for it (nodes may be left out unless require_all). choose_order True: the ring order
    is chosen too, over every order of every subset of nodes.
    require_all: every node gets at least one layer (when exo's ring needs each listed node).
    exact (with choose_order): None chooses (exact while exact_work(p) <= EXACT_WORK), True/False forces it.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    L, N = p.n_layers, p.n_nodes
    if L == 0 or N == 0:
        raise PlanInfeasible("nothing to plan: no layers or no nodes")
    if require_all and N > L:
        raise PlanInfeasible(f"{N} nodes cannot each get one of {L} layers")
    if any(not g > 0 for g in p.gbps) or (p.tflops and any(not t > 0 for t in p.tflops)):
        raise ValueError("every node needs a bandwidth and compute > 0 (nodes.build_nodes guarantees it)")
    fixed = not choose_order
    if exact is None:
        exact = fixed or exact_work(p) <= EXACT_WORK
    model = _Model(p)
    combine = "max" if objective == "throughput" else "sum"
    found = _search(p, model, objective, require_all, combine, exact, fixed=fixed)
    if found is None:
        raise PlanInfeasible(shortfall_message(p, model.mem))
    value, segs = found
    if objective == "throughput" and sum(1 for s, e in segs if e > s) > 1:
        # among plans with this bottleneck, the one with the least decode latency
        again = _search(p, model, "latency", require_all, "sum", exact, cap=value * (1 + 1e-12) + p.hop_ms * 1e-12,
                        fixed=fixed)
        if again is not None:
            segs = again[1]
    return evaluate(p, segs, objective, exact)


def solve_keeping_nodes(p: Problem, objective: str = "latency", keep_all_nodes: bool = False,
                        exact: bool | None = None, choose_order: bool = True) -> Plan:
    """solve() with the ring order chosen, giving every node a layer when keep_all_nodes and some plan can;
    else a node is left out when keeping it costs more.

    A node too small (or a ring longer than the model) cannot hold a layer: then the plan leaves it out
    rather than fail.
    """
    if keep_all_nodes and p.n_nodes <= p.n_layers:
        try:
            return solve(p, objective, require_all=True, exact=exact, choose_order=choose_order)
        except PlanInfeasible:
            pass
    return solve(p, objective, require_all=False, exact=exact, choose_order=choose_order)


def shortfall_message(p: Problem, Mm=None) -> str:
    L = p.n_layers
    if Mm is None:
        Mm = _Model(p).mem
    need = float(Mm[0, L]) + (p.both_saving if p.n_nodes > 1 else 0.0)
    have = float(sum(p.budgets))
    if need > have:
        return (f"the model does not fit: it needs {need / GB:.2f} GB (weights + KV cache), the nodes' "
                f"budgets total {have / GB:.2f} GB: short by {(need - have) / GB:.2f} GB")
    big = max(p.mem_bytes) / GB
    return (f"no contiguous split fits although the budgets total {have / GB:.2f} GB for {need / GB:.2f} GB "
            f"needed: layers come in {big:.2f} GB pieces and the largest budget is {max(p.budgets) / GB:.2f} GB")
