"""In-process adapter for exo v1's master: exo's types in, exo's `ShardAssignments` out.

For people who run exo v1 with a patched master. Two ways in, both opt-in:

- call it yourself where exo's placement builds pipeline shards:

      from exo_gay.exov1.adapter import gay_shard_assignments
      assignments = gay_shard_assignments(model_card, cycle, node_memory, node_identities)

- or let exo-gay patch exo's placement when exo starts, the same switch as on legacy exo:
  `EXO_PARTITIONING_STRATEGY=gay exo` (exo-gay's .pth hook calls install() before exo.main
  loads), or call `exo_gay.exov1.adapter.install()` before exo places anything.

install() replaces `exo.master.placement.get_shard_assignments` (the function both the
master's PlaceInstance and the API's dry run call) with one that plans pipeline shards with
the gay planner over exo's own cycle (exo's ranks kept); tensor sharding and CFG pipelines
go to exo's own function unchanged, and where no gay plan fits exo's own split is used, with
a warning. exo's placement does not pass node identities down, so inside exo the speeds come
from install(gbps=...) (node id -> GB/s) or are equal; `exo-gay place` reads the chips from
exo's state instead.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Sequence

from ..strategies.nodes import HEADROOM
from ..strategies.problem import DEFAULT_CONTEXT, DEFAULT_HOP_MS
from .cards import V1Card, card_costs
from .plan import NodeInfo, PlacementError, our_plan, ring_nodes

log = logging.getLogger(__name__)

_original: Callable[..., Any] | None = None


def _bytes(mem: Any) -> int:
    return int(getattr(mem, "in_bytes", mem or 0))


def plan_segments(model_card: Any, node_ids: Sequence[str], node_memory: Mapping[Any, Any],
                  node_identities: Mapping[Any, Any] | None = None, *, context: int = DEFAULT_CONTEXT,
                  objective: str = "latency", headroom: float = HEADROOM, hop_ms: float = DEFAULT_HOP_MS,
                  gbps: Mapping[str, float] | None = None) -> list[tuple[int, int]]:
    """[start, end) per node of exo's cycle, in its order; PlacementError when no split fits."""
    card = V1Card.from_mapping(model_card.model_dump() if hasattr(model_card, "model_dump") else model_card)
    infos = []
    for nid in node_ids:
        mem = node_memory.get(nid)
        if mem is None:
            raise PlacementError(f"no memory reading for node {nid}")
        ident = (node_identities or {}).get(nid)
        infos.append(NodeInfo(str(nid), _bytes(getattr(mem, "ram_available", None)),
                              _bytes(getattr(mem, "ram_total", None)), str(getattr(ident, "chip_id", "") or ""),
                              str(getattr(ident, "friendly_name", "") or "")))
    ring = ring_nodes(infos, headroom, {str(k): v for k, v in (gbps or {}).items()})
    costs = card_costs(card)
    _, plan = our_plan(costs, ring, infos, context, hop_ms, objective)
    return list(plan.segments)


def gay_shard_assignments(model_card: Any, cycle: Any, node_memory: Mapping[Any, Any],
                          node_identities: Mapping[Any, Any] | None = None, **options: Any) -> Any:
    """exo's ShardAssignments (PipelineShardMetadata, exo's cycle order = device ranks) with the gay split.

    model_card: exo.shared.models.model_cards.ModelCard; cycle: exo's Cycle (or a list of
    NodeId); node_memory: {NodeId: MemoryUsage}; node_identities: {NodeId: NodeIdentity}
    (for chip speeds), optional. options: context, objective, headroom, hop_ms, gbps.
    """
    from exo.shared.types.worker.runners import RunnerId, ShardAssignments
    from exo.shared.types.worker.shards import PipelineShardMetadata

    node_ids = list(getattr(cycle, "node_ids", cycle))
    segments = plan_segments(model_card, node_ids, node_memory, node_identities, **options)
    runner_to_shard, node_to_runner = {}, {}
    for rank, (nid, (s, e)) in enumerate(zip(node_ids, segments, strict=True)):
        runner = RunnerId()
        runner_to_shard[runner] = PipelineShardMetadata(model_card=model_card, device_rank=rank,
                                                        world_size=len(node_ids), start_layer=s, end_layer=e,
                                                        n_layers=model_card.n_layers)
        node_to_runner[nid] = runner
    return ShardAssignments(model_id=model_card.model_id, runner_to_shard=runner_to_shard,
                            node_to_runner=node_to_runner)


def install(**options: Any) -> Callable[..., Any]:
    """Patch exo v1's placement to plan pipeline shards with gay (idempotent); returns the new function."""
    global _original
    import exo.master.placement as placement
    from exo.shared.types.worker.shards import Sharding

    if _original is None:
        _original = placement.get_shard_assignments
    original = _original

    def get_shard_assignments(model_card, cycle, sharding, node_memory):
        world = len(cycle)
        cfg = getattr(model_card, "uses_cfg", False) and world >= 2 and world % 2 == 0
        if sharding != Sharding.Pipeline or cfg:
            return original(model_card, cycle, sharding, node_memory)
        try:
            return gay_shard_assignments(model_card, cycle, node_memory, **options)
        except PlacementError as e:
            log.warning("exo-gay: %s on %d nodes: %s; exo's own split is used", model_card.model_id, world, e)
            return original(model_card, cycle, sharding, node_memory)

    get_shard_assignments.exo_gay = True  # type: ignore[attr-defined]
    placement.get_shard_assignments = get_shard_assignments
    return get_shard_assignments


def uninstall() -> None:
    """exo's own get_shard_assignments back."""
    global _original
    if _original is not None:
        import exo.master.placement as placement

        placement.get_shard_assignments = _original
        _original = None
