"""Glue, all pure: model costs + nodes -> a planner Problem; plans -> exo fractions; exo's default.

exo's default split and exo's fraction-to-layer mapping are re-stated here from their
documented behaviour (shared/EXO.md) to predict what exo would do with the same cluster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from .cluster import Node
from .model_costs import ModelCosts
from .planner import Problem

DEFAULT_HOP_MS = 3.0  # assumed cost of one gRPC hop per token; --hop-ms overrides it
DEFAULT_CONTEXT = 4096


def make_problem(costs: ModelCosts, ring: Sequence[Node], context: int = DEFAULT_CONTEXT,
                 hop_ms: float = DEFAULT_HOP_MS) -> Problem:
    kv = [l.kv_bytes(context) for l in costs.layers]
    w = [l.weights for l in costs.layers]
    return Problem(
        time_bytes=tuple(float(a + b) for a, b in zip(w, kv)),
        mem_bytes=tuple(float(a + b) for a, b in zip(w, kv)),
        budgets=tuple(float(n.budget_bytes) for n in ring),
        gbps=tuple(float(n.gbps) for n in ring),
        first_mem=float(costs.embedding + costs.other),
        last_mem=float(costs.final_norm + costs.head),
        last_time=float(costs.final_norm + costs.head),
        both_saving=float(costs.embedding) if costs.tied else 0.0,
        hop_ms=float(hop_ms),
    )


def exo_fraction(k: int, n: int) -> float:
    """A float f with int(f * n) == k, as close to k/n as floats allow (exo floors f * n)."""
    if k <= 0:
        return 0.0
    if k >= n:
        return 1.0
    f = k / n
    while int(f * n) < k:
        f = math.nextafter(f, 2.0)
    while int(f * n) > k:
        f = math.nextafter(f, 0.0)
    return f


def exo_layers(fractions: Sequence[tuple[float, float]], n_layers: int) -> list[tuple[int, int] | None]:
    """What exo's map_partitions_to_shards makes of fractions: [start, end) per partition, None if dropped."""
    out: list[tuple[int, int] | None] = []
    for i, (a, b) in enumerate(fractions):
        start, end_incl = int(a * n_layers), int(b * n_layers) - 1
        if i == len(fractions) - 1:
            end_incl = n_layers - 1
        out.append((start, end_incl + 1) if start <= end_incl else None)
    return out


@dataclass
class ExoDefault:
    order: list[str]  # node ids in exo's ring order
    fractions: list[tuple[float, float]]
    layers: list[tuple[int, int] | None]  # per node; None: exo drops the partition
    broken: str = ""  # why exo's ring breaks with this split, "" when it does not


def exo_default(nodes: Sequence[Node], n_layers: int) -> ExoDefault:
    """exo's RingMemoryWeightedPartitioningStrategy on these nodes, then its layer mapping."""
    order = sorted(nodes, key=lambda n: (n.memory_mb, n.node_id), reverse=True)
    total = sum(n.memory_mb for n in order)
    ids = [n.node_id for n in order]
    if total == 0:
        return ExoDefault(ids, [], [None] * len(order), "ZeroDivisionError: every node reports 0 MB")
    fr, start = [], 0.0
    for n in order:
        end = round(start + n.memory_mb / total, 5)
        fr.append((start, end))
        start = end
    layers = exo_layers(fr, n_layers)
    dropped = [i for i, l in zip(ids, layers) if l is None]
    broken = ""
    if dropped:
        broken = (f"partitions of {', '.join(dropped)} round to zero layers and are dropped; the shard list no "
                  f"longer lines up with the partition list (IndexError / wrong layers)")
    return ExoDefault(ids, fr, layers, broken)


def plan_fractions(segments: Sequence[tuple[int, int]], n_layers: int) -> list[tuple[int, float, float]]:
    """(ring index, start, end) for every node with layers, so exo maps back exactly these layers."""
    return [(j, exo_fraction(s, n_layers), exo_fraction(e, n_layers))
            for j, (s, e) in enumerate(segments) if e > s]
