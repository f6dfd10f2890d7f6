"""A plan as numbers a person can check: per node loads and times, the bounding term, exo's default beside it.

Both plans are scored by the same time model (planner.evaluate), so every comparison is like with
like: decode ms per token against decode ms per token, time to first token against time to first token.
"""

from __future__ import annotations

from typing import Any, Sequence

from .checkpoint import GB, ModelCosts
from .exo_split import exo_default
from .nodes import MB, Node
from .planner import Plan, PlanInfeasible, Problem, evaluate, solve

TERM_PART = {"MINUS": "attention + KV cache", "ERGODIC": "norms + hops", "PLUS": "FFN (+ head)"}
TERM_SHORT = {"MINUS": "attn+KV", "ERGODIC": "norm+hop", "PLUS": "FFN"}
SOURCE_SHORT = {"cluster file": "cluster", "measured": "measured", "chip table": "table", "exo flops": "exo",
                "median of known": "median"}


def node_load(costs: ModelCosts, s: int, e: int, context: int) -> dict[str, float]:
    """Bytes a node holds for layers [s, e), split by kind (embedding / head only at the ends)."""
    L = costs.n_layers
    keys = ("attention", "norm", "ffn", "ffn_active", "kv", "embedding", "head", "total", "streamed")
    if e <= s:
        return {k: 0 for k in keys}
    ls = costs.layers[s:e]
    d = {
        "attention": sum(ly.attention for ly in ls),
        "norm": sum(ly.norm for ly in ls),
        "ffn": sum(ly.ffn for ly in ls),
        "kv": sum(ly.kv_bytes(context) for ly in ls),
        "embedding": costs.embedding + costs.other if s == 0 else 0,
        "head": costs.final_norm + (0 if (costs.tied and s == 0) else costs.head) if e == L else 0,
    }
    d["total"] = sum(d.values())
    d["ffn_active"] = sum(ly.ffn_read for ly in ls)
    # streamed per decoded token: attention, KV, norms, the FFN bytes a token uses, the head
    d["streamed"] = (d["attention"] + d["norm"] + d["ffn_active"] + d["kv"]
                     + ((costs.final_norm + costs.head) if e == L else 0))
    return d


def _row(costs: ModelCosts, n: Node, j: int, plan: Plan, context: int) -> dict[str, Any]:
    s, e = plan.segments[j]
    load = node_load(costs, s, e, context)
    terms = plan.terms_ms[j]
    return {
        "node_id": n.node_id, "layers": [s, e], "bound": plan.polarity(j),
        "terms_ms": {"MINUS": round(terms[0], 4), "ERGODIC": round(terms[1], 4), "PLUS": round(terms[2], 4)},
        "gb": {k: round(v / GB, 4) for k, v in load.items()},
        "used_gb": round(plan.mem_bytes[j] / GB, 4),
        "budget_gb": round(n.budget_bytes / GB, 4), "memory_gb": round(n.memory_mb * MB / GB, 4),
        "fits": plan.mem_bytes[j] <= n.budget_bytes, "ms_per_token": round(plan.decode_ms[j], 4),
        "prefill_ms": round(plan.prefill_ms[j], 3), "gbps": n.gbps, "tflops": n.tflops,
        "speed_source": n.speed_source, "compute_source": n.compute_source,
    }


def _figures(plan: Plan) -> dict[str, Any]:
    lat, bot, ttft = plan.latency_ms, plan.bottleneck_ms, plan.ttft_ms
    return {"latency_ms": round(lat, 4), "tokens_per_s": round(1000.0 / lat, 3) if lat else None,
            "bottleneck_ms": round(bot, 4), "pipelined_tokens_per_s": round(1000.0 / bot, 3) if bot else None,
            "ttft_ms": round(ttft, 3), "value_ms": round(plan.value, 4)}


def _rows_in_order(costs, ring, plan, context) -> list[dict[str, Any]]:
    idle = [j for j, (s, e) in enumerate(plan.segments) if e <= s]
    return [_row(costs, ring[j], j, plan, context) for j in plan.order + idle]


def build_report(costs: ModelCosts, ring: Sequence[Node], problem: Problem, plan: Plan, context: int,
                 headroom: float, keep_all_nodes: bool = False, prompt_tokens: int | None = None) -> dict[str, Any]:
    rows = _rows_in_order(costs, ring, plan, context)
    exo = exo_default(list(ring), costs.n_layers)
    index = {n.node_id: j for j, n in enumerate(ring)}
    segs = [(0, 0)] * len(ring)
    for node_id, lay in zip(exo.order, exo.layers, strict=True):
        if lay:
            segs[index[node_id]] = lay
    exo_plan = evaluate(problem, segs, plan.objective)
    exo_rows = []
    for node_id, lay in zip(exo.order, exo.layers, strict=True):
        r = _row(costs, ring[index[node_id]], index[node_id], exo_plan, context)
        r["dropped"] = lay is None
        exo_rows.append(r)
    oom = [r["node_id"] for r in exo_rows if not r["fits"]]
    runs = not (exo.broken or oom)
    left_out = [r["node_id"] for r in rows if r["layers"][1] <= r["layers"][0]]
    keep_all = None
    if left_out and not keep_all_nodes:
        try:
            ka = solve(problem, plan.objective, require_all=True, choose_order=True)
            keep_all = {**_figures(ka), "segments": {ring[j].node_id: list(ka.segments[j]) for j in ka.order}}
        except PlanInfeasible as e:
            keep_all = {"infeasible": str(e)}
    return {
        "model": costs.model_id, "cost_source": costs.source, "objective": plan.objective, "context_tokens": context,
        "prompt_tokens": prompt_tokens,
        "gen_tokens": problem.gen_tokens, "headroom": headroom, "hop_ms": problem.hop_ms,
        "keep_all_nodes": keep_all_nodes,
        "time_model": ("decode ms/token per stage = max(bytes streamed / (GB/s * 1e6), FLOPs / (TFLOPS * 1e9)) "
                       "+ hop_ms when > 1 stage; prefill the same over the prompt's FLOPs and the weights read once"),
        "terms": TERM_PART,
        "plan": {"nodes": rows, "exact": plan.exact, "left_out": left_out, **_figures(plan)},
        "keep_all_nodes_plan": keep_all,
        "exo_default": {
            "nodes": exo_rows, "broken": exo.broken, "out_of_memory": oom,
            "fractions": [list(f) for f in exo.fractions], **_figures(exo_plan), "runs": runs,
        },
        "costs": costs.to_json(),
        "nodes": [n.to_json() for n in ring],
    }


def _layers(r: dict) -> str:
    s, e = r["layers"]
    return f"{s}-{e - 1}" if e - s > 1 else f"{s}" if e > s else "-"


def speed_text(n: dict[str, Any]) -> tuple[str, str]:
    """A node's planned bandwidth and where it came from, e.g. ("381", "table 400")."""
    planned, declared, src = n["gbps"], n.get("declared_gbps") or n["gbps"], n["speed_source"]
    return f"{planned:.0f}", f"{SOURCE_SHORT.get(src, src)} {declared:g}"


def compute_text(n: dict[str, Any]) -> tuple[str, str]:
    planned, declared, src = n["tflops"], n.get("declared_tflops") or n["tflops"], n["compute_source"]
    return f"{planned:.1f}", f"{SOURCE_SHORT.get(src, src)} {declared:g}"


def no_tokens_reason(x: dict[str, Any]) -> str:
    """Why exo's default split produces no tokens ("" when it does)."""
    if x["broken"]:
        return "exo's ring breaks: " + x["broken"]
    if x["out_of_memory"]:
        who = x["out_of_memory"]
        return (f"{who[0]} runs out of memory" if len(who) == 1
                else f"{', '.join(who)} run out of memory")
    return ""


def figures_text(f: dict[str, Any]) -> str:
    return (f"{f['latency_ms']:.2f} ms per token ({f['tokens_per_s']} tokens/s), slowest stage "
            f"{f['bottleneck_ms']:.2f} ms, first token {f['ttft_ms']:.0f} ms")


def exo_summary(rep: dict[str, Any]) -> str:
    x = rep["exo_default"]
    if x["runs"]:
        return f"exo default: {figures_text(x)}"
    return f"exo default: no tokens ({no_tokens_reason(x) or 'nothing to run'})"


def plan_summary(rep: dict[str, Any]) -> str:
    return f"GayShardingStrategy: {figures_text(rep['plan'])}"


def comparison(rep: dict[str, Any]) -> list[str]:
    """Like with like: each figure of ours over exo's same figure."""
    p, x = rep["plan"], rep["exo_default"]
    if not x["runs"]:
        return [f"ours runs where exo's default does not ({no_tokens_reason(x)})"]
    out = []
    for key, what in (("latency_ms", "ms per token"), ("bottleneck_ms", "slowest stage"),
                      ("ttft_ms", "time to first token")):
        if p[key] > 0:
            out.append(f"{what}: exo / ours = {x[key] / p[key]:.2f}x")
    return ["; ".join(out)]


def keep_all_text(rep: dict[str, Any]) -> str:
    p, k = rep["plan"], rep.get("keep_all_nodes_plan")
    if not p["left_out"]:
        return "every node holds layers"
    left = ", ".join(p["left_out"])
    if k is None:
        return f"left out: {left} (they cannot hold a layer)"
    if "infeasible" in k:
        return f"left out: {left}; keeping every node does not fit ({k['infeasible']})"
    return (f"left out: {left}, because keeping every node (--keep-all-nodes) would cost "
            f"{k['latency_ms']:.2f} ms per token, slowest stage {k['bottleneck_ms']:.2f} ms, first token "
            f"{k['ttft_ms']:.0f} ms")


PLAN_HEADERS = ["node", "layers", "used/budget GB", "GB/tok", "ms/tok", "prefill ms", "bound by"]
PLAN_NUMBERS = tuple(PLAN_HEADERS[1:6])
NODE_HEADERS = ["node", "chip", "mem GB", "budget", "GB/s", "from", "TFLOPS", "from "]  # 2nd "from": TFLOPS
NODE_NUMBERS = ("mem GB", "budget", "GB/s", "TFLOPS")


def node_rows(rep: dict[str, Any]) -> list[list[str]]:
    rows = []
    for n in rep["nodes"]:
        bw, bw_src = speed_text(n)
        tf, tf_src = compute_text(n)
        rows.append([n["node_id"], n.get("chip") or "?", f"{n['memory_mb'] * MB / GB:.1f}",
                     f"{n['budget_bytes'] / GB:.2f}", bw, bw_src, tf, tf_src])
    return rows


def plan_rows(nodes: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in nodes:
        if r["layers"][1] <= r["layers"][0]:
            rows.append([r["node_id"], "-", f"0/{r['budget_gb']:.2f}", "", "", "",
                         "(dropped)" if r.get("dropped") else "(left out)"])
            continue
        mark = "" if r["fits"] else "!"
        rows.append([r["node_id"], _layers(r), f"{r['used_gb']:.2f}/{r['budget_gb']:.2f}{mark}",
                     f"{r['gb']['streamed']:.2f}", f"{r['ms_per_token']:.2f}", f"{r['prefill_ms']:.0f}",
                     f"{r['bound']} {TERM_SHORT[r['bound']]}"])
    return rows


LEGEND = (
    "GB/s, TFLOPS: memory bandwidth (bounds decode) and dense fp16 compute (bounds",
    "  prefill) planned on, floored to a 5% grid so that nodes agree; from: the",
    "  figure given and its source: cluster file, measured, table (published",
    "  figures; --json nodes[].reference), exo (exo's FLOPS), median (of the known)",
    "used/budget GB: held (weights, every expert of an MoE, KV cache) / memory less",
    "  headroom; ! = over. GB/tok: streamed per decoded token (an MoE's active",
    "  experts only). ms/tok: decode ms per token; prefill ms: the prompt's share",
    "  (both with a hop between stages). bound by: the term that takes most of the",
    "  node's time: MINUS attention + KV, ERGODIC norms + hops, PLUS FFN (+ head)",
)
