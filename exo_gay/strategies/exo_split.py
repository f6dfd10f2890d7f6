"""exo's side of a split: layer ranges as the fractions exo maps back, and exo's own default split.

Both restate exo's documented behaviour (map_partitions_to_shards floors f * n_layers;
RingMemoryWeightedPartitioningStrategy splits by memory) to predict what exo does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from .nodes import Node


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
    dropped = [i for i, ly in zip(ids, layers, strict=True) if ly is None]
    broken = ""
    if dropped:
        broken = (f"partitions of {', '.join(dropped)} round to zero layers and are dropped; the shard list no "
                  f"longer lines up with the partition list (IndexError / wrong layers)")
    return ExoDefault(ids, fr, layers, broken)


def plan_fractions(segments: Sequence[tuple[int, int]], n_layers: int) -> list[tuple[int, float, float]]:
    """(node index, start, end) for every node with layers, in pipeline order (by start layer), so exo
    maps back exactly these layers."""
    used = sorted((j for j, (s, e) in enumerate(segments) if e > s), key=lambda j: segments[j][0])
    return [(j, exo_fraction(segments[j][0], n_layers), exo_fraction(segments[j][1], n_layers)) for j in used]
