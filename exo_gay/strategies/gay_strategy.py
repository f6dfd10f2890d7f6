"""GayShardingStrategy: exo's PartitioningStrategy, planned exactly by cost and speed.

exo calls partition(topology) on every node, dozens of times per generation, and maps the
returned fractions to layers with int(f * n_layers). This class:
  - plans with real per-layer costs once the model is known (observe_model, called by the
    exo plugin from get_current_shard), memory-safe, by the chosen objective;
  - emits fractions that map back to exactly the planned layers, never a zero-layer
    partition; a node the plan leaves without layers is left out of the list;
  - caches plans by a cluster signature (sorted node ids, bucketed budgets and speeds, model,
    objective, context), so repeated calls cost a dict lookup.
Before a model is known it returns a memory-and-speed weighted split over max(N, 16)
virtual layers: every node gets a share of at least one virtual layer, so no partition is
dropped for any model with at least that many layers.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping

from .cluster import HEADROOM, Node, nodes_from_topology, ring_order
from .model_costs import ModelCosts, ModelNotFound, load_costs, uniform_costs
from .plan import DEFAULT_CONTEXT, DEFAULT_HOP_MS, exo_fraction, make_problem, plan_fractions
from .planner import Plan, PlanInfeasible, solve_keeping_nodes

log = logging.getLogger(__name__)

try:  # exo is optional: subclass its interface when it is installed
    from exo.topology.partitioning_strategy import Partition, PartitioningStrategy as _Base  # type: ignore
except Exception:  # noqa: BLE001 - any import failure means "no exo here"
    _Base = object  # type: ignore[assignment,misc]

    @dataclass
    class Partition:  # type: ignore[no-redef]
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
    for x, c in zip(ring, counts):
        out.append((x.node_id, exo_fraction(b, lv), exo_fraction(b + c, lv)))
        b += c
    return out


class GayShardingStrategy(_Base):  # type: ignore[misc,valid-type]
    def __init__(self, objective: str = "latency", context_tokens: int = DEFAULT_CONTEXT,
                 headroom: float = HEADROOM, hop_ms: float = DEFAULT_HOP_MS, keep_all_nodes: bool = True,
                 model: str | None = None, measured: Mapping[str, Mapping] | None = None):
        if objective not in ("latency", "throughput"):
            raise ValueError(f"objective must be latency or throughput, not {objective!r}")
        if not 0.0 <= headroom < 1.0:
            raise ValueError("headroom is a share of memory in [0, 1)")
        self.objective = objective
        self.context_tokens = max(0, int(context_tokens))
        self.headroom = float(headroom)
        self.hop_ms = max(0.0, float(hop_ms))
        self.keep_all_nodes = keep_all_nodes
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
        costs: ModelCosts | None = None
        try:
            costs = load_costs(model_id)
            if costs.n_layers != int(n_layers):
                log.warning("%s: config has %d layers, exo says %d; using uniform costs",
                            model_id, costs.n_layers, n_layers)
                costs = None
        except (ModelNotFound, ImportError, ValueError, TypeError, KeyError) as e:
            log.info("%s: %s; using uniform layer costs", model_id, e)
        self.costs = costs or uniform_costs(model_id, n_layers)
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
               tuple((n.node_id, n.budget_bytes, n.gbps) for n in ring))
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
        problem = make_problem(self.costs, ring, self.context_tokens, self.hop_ms)
        try:
            plan = solve_keeping_nodes(problem, self.objective, self.keep_all_nodes)
        except PlanInfeasible as e:
            log.warning("GayShardingStrategy: %s; falling back to a weighted split", e)
            return [Partition(i, a, b) for i, a, b in fallback_split(ring)], None, str(e)
        L = problem.n_layers
        parts = [Partition(ring[j].node_id, a, b) for j, a, b in plan_fractions(plan.segments, L)]
        return parts, plan, ""
