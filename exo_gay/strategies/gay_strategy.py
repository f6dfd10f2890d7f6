"""GayShardingStrategy: exo's partitioning policy, planned exactly from real costs and measured speed.

exo calls partition(topology) on every node, many times per token, and maps the returned
fractions to layers with int(f * n_layers). The plan is memory-safe, cached by a cluster
signature, never yields a zero-layer partition, and uses only what every node shares (the
topology and exo's card table), so every node computes the same plan. Before the model is
known it returns a memory-and-speed weighted split over max(N, 16) virtual layers.
This module does not import exo; exo_plugin adapts it to exo's classes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping

from .checkpoint import ModelCosts, ModelNotFound, uniform_costs
from .exo_split import exo_fraction, plan_fractions
from .model_costs import load_costs
from .nodes import HEADROOM, Node, nodes_from_topology, ring_order
from .planner import OBJECTIVES, Plan, PlanInfeasible, solve_keeping_nodes
from .problem import DEFAULT_CONTEXT, DEFAULT_GEN, DEFAULT_HOP_MS, DEFAULT_PROMPT, make_problem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Partition:
    """Same fields as exo's Partition: a share [start, end) of layer space."""

    node_id: str
    start: float
    end: float


MIN_VIRTUAL_LAYERS = 16
_CACHE_SIZE = 256


def fallback_split(ring: list[Node]) -> list[tuple[str, float, float]]:
    """Shares weighted by budget x speed, on a grid of max(N, 16) virtual layers, >= 1 each."""
    n = len(ring)
    lv = max(n, MIN_VIRTUAL_LAYERS)
    w = [max(0.0, float(x.budget_bytes)) * x.gbps for x in ring]
    total = sum(w)
    w = [x / total for x in w] if total > 0 else [1.0 / n] * n
    spare = lv - n
    raw = [x * spare for x in w]
    counts = [1 + int(r) for r in raw]
    # largest remainders first; ties by ring position so every node computes the same split
    order = sorted(range(n), key=lambda i: (-(raw[i] - int(raw[i])), i))
    for i in order[: lv - sum(counts)]:
        counts[i] += 1
    out, b = [], 0
    for x, c in zip(ring, counts, strict=True):
        out.append((x.node_id, exo_fraction(b, lv), exo_fraction(b + c, lv)))
        b += c
    return out


class GayShardingStrategy:
    def __init__(self, objective: str = "latency", context_tokens: int = DEFAULT_CONTEXT,
                 headroom: float = HEADROOM, hop_ms: float = DEFAULT_HOP_MS, keep_all_nodes: bool = False,
                 model: str | None = None, measured: Mapping[str, Mapping] | None = None,
                 prompt_tokens: int = DEFAULT_PROMPT, gen_tokens: int = DEFAULT_GEN):
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
        if not 0.0 <= headroom < 1.0:
            raise ValueError("headroom is a share of memory in [0, 1)")
        self.objective = objective
        self.context_tokens = max(0, int(context_tokens))
        self.headroom = float(headroom)
        self.hop_ms = max(0.0, float(hop_ms))
        self.keep_all_nodes = keep_all_nodes
        self.prompt_tokens = max(1, int(prompt_tokens))
        self.gen_tokens = max(0, int(gen_tokens))
        self.measured: dict[str, dict] = {k: dict(v) for k, v in (measured or {}).items()}
        self.costs: ModelCosts | None = None
        self.last_error = ""  # why the last plan fell back, "" when it did not
        self.last_plan: Plan | None = None
        self._model_key: tuple = ()
        self._cache: OrderedDict[tuple, tuple[list[Partition], Plan | None, str]] = OrderedDict()
        if model is not None:
            self.costs = load_costs(model)
            self._model_key = (model, self.costs.n_layers)

    # -- inputs from the running cluster -------------------------------------------------
    def observe_model(self, model_id: str, n_layers: int) -> None:
        """The model exo is about to run (from get_current_shard's base_shard)."""
        key = (model_id, int(n_layers))
        if key == self._model_key:
            return
        try:
            self.costs = load_costs(model_id, int(n_layers))
        except ModelNotFound as e:
            self.costs = uniform_costs(model_id, n_layers, str(e))
            log.warning("exo-gay: no real costs for model %s (%s); planning from an estimate", model_id, e)
        self._model_key = key

    def set_measurements(self, measured: Mapping[str, Mapping]) -> None:
        """Measured speeds per node: {"mem_bandwidth_gbs": x} and/or {"colors_per_second": y}."""
        self.measured = {k: dict(v) for k, v in measured.items()}

    # -- exo's interface ------------------------------------------------------------------
    def partition(self, topology: Any) -> list[Partition]:
        return self._planned(self._ring(topology))[0]

    def plan(self, topology: Any) -> tuple[list[Node], Plan | None]:
        """The ring and the plan behind partition(topology), for display and checks."""
        ring = self._ring(topology)
        return ring, self._planned(ring)[1]

    def _ring(self, topology: Any) -> list[Node]:
        return ring_order(nodes_from_topology(topology, self.headroom, self.measured))

    def _planned(self, ring: list[Node]) -> tuple[list[Partition], Plan | None, str]:
        sig = (self._model_key, self.objective, self.context_tokens, self.hop_ms, self.keep_all_nodes,
               self.prompt_tokens, self.gen_tokens, tuple((n.node_id, n.budget_bytes, n.gbps, n.tflops) for n in ring))
        hit = self._cache.get(sig)
        if hit is None:
            hit = self._compute(ring)
            self._cache[sig] = hit
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(sig)
        self.last_plan, self.last_error = hit[1], hit[2]
        return hit

    def _compute(self, ring: list[Node]) -> tuple[list[Partition], Plan | None, str]:
        if not ring:
            return [], None, "no nodes"
        if self.costs is None:
            return [Partition(i, a, b) for i, a, b in fallback_split(ring)], None, "model not known yet"
        problem = make_problem(self.costs, ring, self.context_tokens, self.hop_ms, self.prompt_tokens,
                               self.gen_tokens)
        try:
            plan = solve_keeping_nodes(problem, self.objective, self.keep_all_nodes)
        except PlanInfeasible as e:
            log.warning("exo-gay: %s (costs from %s): %s; falling back to a weighted split",
                        self.costs.model_id, self.costs.source, e)
            return [Partition(i, a, b) for i, a, b in fallback_split(ring)], None, str(e)
        L = problem.n_layers
        # in pipeline order (the planner chose it): exo walks the partitions in list order
        parts = [Partition(ring[j].node_id, a, b) for j, a, b in plan_fractions(plan.segments, L)]
        log.info("exo-gay: %s plan for %s (%d layers, costs from %s): %s", self.objective, self.costs.model_id, L,
                 self.costs.source, ", ".join(f"{ring[j].node_id} {plan.segments[j][0]}-{plan.segments[j][1] - 1}"
                                               for j in plan.order))
        return parts, plan, ""
