"""The `gay` split for an exo v1 placement: pure functions over exo's JSON (no I/O, no exo import).

exo v1's API speaks camelCase JSON with tagged unions ({"MlxRingInstance": {...}}). Its
dry-run placement (GET /instance/placement) picks the ring, its order (device ranks), the
hosts and the port; we keep all of those and replace only each shard's [startLayer,
endLayer) with the planner's split, costed from the card exo put in the shards. exo's
master accepts a posted instance as it is, so the split is checked here: the ranges tile
[0, n_layers) in rank order, each node has a layer, and each node's share (weights + KV
cache at the context) fits the memory exo reports for it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..errors import InputError
from ..strategies.checkpoint import ModelCosts
from ..strategies.nodes import HEADROOM, Node, build_nodes
from ..strategies.planner import Plan, PlanInfeasible, Problem, evaluate, solve
from ..strategies.problem import DEFAULT_CONTEXT, DEFAULT_HOP_MS, make_problem
from .cards import V1Card, card_costs

GB = 1e9
MB = 2**20
RING = "MlxRingInstance"
PIPELINE = "PipelineShardMetadata"


class PlacementError(InputError):
    """exo's placement, state or our split cannot be used (nothing is posted)."""


@dataclass(frozen=True)
class Slot:
    """One node of exo's ring: its runner and exo's shard."""

    node_id: str
    runner_id: str
    rank: int
    start: int
    end: int


@dataclass
class Placement:
    """exo's dry-run instance, read."""

    instance: dict  # the JSON exactly as exo returned it
    instance_id: str
    card: V1Card
    card_json: dict
    slots: list[Slot]  # by device rank

    @property
    def node_ids(self) -> list[str]:
        return [s.node_id for s in self.slots]

    @property
    def segments(self) -> list[tuple[int, int]]:
        return [(s.start, s.end) for s in self.slots]


def _body(instance: Any) -> dict:
    if not isinstance(instance, Mapping) or len(instance) != 1:
        raise PlacementError("exo's placement is not an instance ({\"MlxRingInstance\": {...}})")
    (kind, body), = instance.items()
    if kind != RING or not isinstance(body, Mapping):
        raise PlacementError(f"exo placed a {kind}; exo-gay plans MlxRing pipeline instances only")
    return dict(body)


def read_placement(instance: Any) -> Placement:
    """exo's dry-run instance as slots in rank order; PlacementError unless a pipeline ring."""
    body = _body(instance)
    sa = body.get("shardAssignments")
    if not isinstance(sa, Mapping):
        raise PlacementError("exo's placement has no shardAssignments")
    r2s, n2r = sa.get("runnerToShard"), sa.get("nodeToRunner")
    if not isinstance(r2s, Mapping) or not isinstance(n2r, Mapping) or not n2r:
        raise PlacementError("exo's placement has no runnerToShard / nodeToRunner")
    slots, card_json = [], None
    for node_id, runner_id in n2r.items():
        shard = r2s.get(runner_id)
        if not isinstance(shard, Mapping) or len(shard) != 1:
            raise PlacementError(f"exo's placement: runner {runner_id} has no shard")
        (kind, meta), = shard.items()
        if kind != PIPELINE:
            raise PlacementError(f"exo's placement uses {kind}; exo-gay plans pipeline shards only")
        try:
            slots.append(Slot(str(node_id), str(runner_id), int(meta["deviceRank"]), int(meta["startLayer"]),
                              int(meta["endLayer"])))
        except (KeyError, TypeError, ValueError) as e:
            raise PlacementError(f"exo's placement: shard of {node_id} lacks {e}") from None
        card_json = card_json or meta.get("modelCard")
    slots.sort(key=lambda s: s.rank)
    if [s.rank for s in slots] != list(range(len(slots))):
        raise PlacementError(f"exo's placement: device ranks {[s.rank for s in slots]} are not 0..{len(slots) - 1}")
    card = V1Card.from_mapping(card_json or {})
    return Placement(dict(instance), str(body.get("instanceId", "")), card, dict(card_json or {}), slots)


# ----------------------------------------------------------------------------- nodes from exo's state

def _bytes(mem: Any) -> int:
    if isinstance(mem, Mapping):
        mem = mem.get("inBytes", mem.get("in_bytes"))
    if isinstance(mem, bool) or not isinstance(mem, (int, float)) or mem < 0:
        return -1
    return int(mem)


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    ram_available: int  # bytes, as exo reports it
    ram_total: int
    chip: str
    friendly_name: str


def node_infos(state: Mapping, node_ids: Sequence[str]) -> list[NodeInfo]:
    """What exo's state says of each node of the ring (memory, chip, name)."""
    memory = state.get("nodeMemory") or {}
    ident = state.get("nodeIdentities") or {}
    out = []
    for nid in node_ids:
        mem = memory.get(nid)
        if not isinstance(mem, Mapping):
            raise PlacementError(f"exo's state has no memory reading for node {nid}")
        avail, total = _bytes(mem.get("ramAvailable")), _bytes(mem.get("ramTotal"))
        if avail < 0:
            raise PlacementError(f"exo's state: node {nid} has no ramAvailable")
        i = ident.get(nid) if isinstance(ident.get(nid), Mapping) else {}
        out.append(NodeInfo(nid, avail, max(total, 0), str(i.get("chipId") or ""), str(i.get("friendlyName") or "")))
    return out


def ring_nodes(infos: Sequence[NodeInfo], headroom: float = HEADROOM,
               gbps: Mapping[str, float] | None = None) -> list[Node]:
    """The planner's nodes in exo's rank order; speed: --gbps, else the chip table's figure for the chip exo
    reports (strategies/hardware.py), else the median of the known nodes."""
    entries = []
    for n in infos:
        s = (gbps or {}).get(n.node_id)
        caps = {"memory": n.ram_available / MB, "chip": n.chip}
        entries.append((n.node_id, caps, {"mem_bandwidth_gbs": s} if s else None))
    by_id = {x.node_id: x for x in build_nodes(entries, headroom)}
    return [by_id[n.node_id] for n in infos]


# ----------------------------------------------------------------------------- the plan

def our_plan(costs: ModelCosts, ring: Sequence[Node], infos: Sequence[NodeInfo], context: int = DEFAULT_CONTEXT,
             hop_ms: float = DEFAULT_HOP_MS, objective: str = "latency") -> tuple[Problem, Plan]:
    """The planner's problem and our split of it, checked (check_split: exo's master posts what it is
    given). Every node of exo's ring gets at least one layer (the ring is exo's); PlacementError if
    none fits."""
    problem = make_problem(costs, ring, context, hop_ms)
    try:
        plan = solve(problem, objective, require_all=True)
    except PlanInfeasible as e:
        raise PlacementError(f"no feasible plan on exo's {problem.n_nodes}-node ring: {e}") from None
    check_split(plan.segments, costs.n_layers, plan.mem_bytes, infos)
    return problem, plan


def check_split(segments: Sequence[tuple[int, int]], n_layers: int, held: Sequence[float],
                infos: Sequence[NodeInfo]) -> None:
    """The ranges tile [0, n_layers) in rank order, one or more layers each, and fit each node's memory."""
    at = 0
    for (s, e), n in zip(segments, infos, strict=True):
        if s != at or e <= s:
            raise PlacementError(f"split {list(segments)} does not tile [0, {n_layers}) with a layer per node "
                                 f"(node {n.node_id} has [{s}, {e}))")
        at = e
    if at != n_layers:
        raise PlacementError(f"split {list(segments)} ends at layer {at}, the model has {n_layers}")
    for h, n in zip(held, infos, strict=True):
        if h > n.ram_available:
            raise PlacementError(f"node {n.node_id} would hold {h / GB:.2f} GB, exo reports "
                                 f"{n.ram_available / GB:.2f} GB available")


def with_split(instance: Mapping, segments: Sequence[tuple[int, int]], slots: Sequence[Slot]) -> dict:
    """A copy of exo's instance with each node's [startLayer, endLayer) replaced; all else as exo made it."""
    out = copy.deepcopy(dict(instance))
    body = out[RING]
    r2s = body["shardAssignments"]["runnerToShard"]
    for slot, (s, e) in zip(slots, segments, strict=True):
        meta = r2s[slot.runner_id][PIPELINE]
        meta["startLayer"], meta["endLayer"] = int(s), int(e)
    return out


def held_segments(instance: Any) -> dict[str, tuple[int, int]]:
    """node id -> [start, end) of a posted or stored instance."""
    p = read_placement(instance)
    return {s.node_id: (s.start, s.end) for s in p.slots}


@dataclass
class Report:
    model: str
    n_layers: int
    context: int
    objective: str
    costs_source: str
    nodes: list[dict] = field(default_factory=list)
    exo: dict = field(default_factory=dict)
    ours: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"model": self.model, "n_layers": self.n_layers, "context_tokens": self.context,
                "objective": self.objective, "costs": self.costs_source, "nodes": self.nodes, "exo": self.exo,
                "gay": self.ours}


def _summary(plan: Plan, ring: Sequence[Node]) -> dict:
    fits = all(m <= n.budget_bytes for m, n in zip(plan.mem_bytes, ring, strict=True))
    return {"segments": [list(s) for s in plan.segments], "latency_ms": round(plan.latency_ms, 4),
            "bottleneck_ms": round(plan.bottleneck_ms, 4), "tokens_per_s": round(1000 / plan.latency_ms, 3)
            if plan.latency_ms > 0 else None, "held_bytes": [int(m) for m in plan.mem_bytes], "fits": fits}


@dataclass
class Planned:
    placement: Placement
    infos: list[NodeInfo]
    ring: list[Node]
    costs: ModelCosts
    problem: Problem
    exo_plan: Plan
    plan: Plan
    report: Report
    instance: dict  # exo's instance with our split


def plan_placement(instance: Any, state: Mapping, context: int = DEFAULT_CONTEXT, hop_ms: float = DEFAULT_HOP_MS,
                   objective: str = "latency", headroom: float = HEADROOM,
                   gbps: Mapping[str, float] | None = None) -> Planned:
    """Our split of exo's dry-run instance, checked, with exo's split costed by the same measure."""
    placement = read_placement(instance)
    infos = node_infos(state, placement.node_ids)
    ring = ring_nodes(infos, headroom, gbps)
    costs = card_costs(placement.card)
    if costs.n_layers != placement.slots[-1].end and placement.slots[-1].end:
        raise PlacementError(f"exo's shards end at layer {placement.slots[-1].end}, its card says "
                             f"{costs.n_layers} layers")
    problem, plan = our_plan(costs, ring, infos, context, hop_ms, objective)
    exo_plan = evaluate(problem, placement.segments, objective)
    rep = Report(costs.model_id, costs.n_layers, context, objective, costs.source)
    for j, (n, info) in enumerate(zip(ring, infos, strict=True)):
        rep.nodes.append({"rank": j, "node_id": n.node_id, "name": info.friendly_name, "chip": info.chip,
                          "ram_available": info.ram_available, "budget_bytes": n.budget_bytes, "gbps": n.gbps,
                          "speed_source": n.speed_source,
                          "exo_layers": list(placement.segments[j]), "gay_layers": list(plan.segments[j])})
    rep.exo, rep.ours = _summary(exo_plan, ring), _summary(plan, ring)
    return Planned(placement, infos, ring, costs, problem, exo_plan, plan, rep,
                   with_split(placement.instance, plan.segments, placement.slots))
