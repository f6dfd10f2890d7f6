"""Nodes as the planner sees them: a memory budget, a decode speed (GB/s), a polarity.

Read from exo's manual-discovery JSON (with an optional "gay" section per peer), an exo
Topology, or plain dicts. Speed, first known wins: the cluster file, a measurement, exo's
FLOPS figure, else the median of the known nodes. Budgets and speeds are bucketed
(monotonically) so that every node, from slightly different readings, plans alike.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..errors import InputError
from ..spi import polarity

if TYPE_CHECKING:  # the strategy inside exo never parses a cluster file: no pydantic schemas to build
    from ..clusterfile import ClusterFile

MB = 2**20
HEADROOM = 0.25  # share of RAM kept back: macOS wires at most ~2/3-3/4 of RAM for the GPU
MEMORY_BUCKET_MB = 64
SPEED_STEP = 1.05  # speeds within 5% share a bucket
DEFAULT_GBPS = 100.0
# exo's CHIP_FLOPS table quotes fp16 TFLOPS; Apple's published memory bandwidths are ~14-15x
# those figures across the M-series (M1 68 GB/s / 4.58 TF, M2 100 / 7.1, M3 Max 400 / 28.4).
GBPS_PER_FP16_TFLOPS = 14.0
# Color mining rate -> bandwidth: the seed's M3 Max figure (2.03e9 colors/s, a 32-bit hash)
# against that chip's published 400 GB/s. Only a ranking signal; a measured GB/s wins.
COLORS_PER_GBPS = 2.03e9 / 400.0


@dataclass(frozen=True)
class Node:
    node_id: str
    memory_mb: int  # as exo reports it (DeviceCapabilities.memory)
    budget_bytes: int  # bucketed memory minus headroom
    gbps: float  # bucketed decode bandwidth, > 0
    speed_source: str  # "cluster file", "measured", "exo flops", "equal" (unknown: the median of the known)
    polarity: int  # fnv1a(node_id) % 3
    chip: str = ""
    model: str = ""
    declared_gbps: float = field(default=0.0, compare=False)  # the speed before bucketing (shown, never planned on)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def bucket_memory_mb(mb: float) -> int:
    return int(max(0.0, mb) // MEMORY_BUCKET_MB) * MEMORY_BUCKET_MB


def bucket_speed(gbps: float) -> float:
    if not gbps > 0 or not math.isfinite(gbps):
        return 0.0
    k = math.floor(math.log(gbps) / math.log(SPEED_STEP) + 1e-9)
    return round(SPEED_STEP**k, 6)


def budget_bytes(memory_mb: float, headroom: float = HEADROOM) -> int:
    return int(bucket_memory_mb(memory_mb) * MB * (1.0 - headroom))


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0.0
    return v if math.isfinite(v) and v > 0 else 0.0


def _speed_of(gay: Mapping | None) -> float:
    if not gay:
        return 0.0
    bw = _num(gay.get("mem_bandwidth_gbs"))
    if bw:
        return bw
    cps = _num(gay.get("colors_per_second"))
    return cps / COLORS_PER_GBPS if cps else 0.0


def raw_speed(caps: Any, gay: Mapping | None, measured: Mapping | None) -> tuple[float, str]:
    s = _speed_of(gay)
    if s:
        return s, "cluster file"
    s = _speed_of(measured)
    if s:
        return s, "measured"
    flops = _get(caps, "flops")
    tf = _num(_get(flops, "fp16", 0)) if flops is not None else 0.0
    if tf:
        return tf * GBPS_PER_FP16_TFLOPS, "exo flops"
    return 0.0, "equal"


def build_nodes(entries: Iterable[tuple[str, Any, Mapping | None]], headroom: float = HEADROOM,
                measured: Mapping[str, Mapping] | None = None) -> list[Node]:
    """Nodes from (node_id, capabilities, gay-section) triples, sorted by node id."""
    rows = []
    for node_id, caps, gay in sorted(entries, key=lambda e: str(e[0])):
        mem = _num(_get(caps, "memory", 0))
        s, src = raw_speed(caps, gay, (measured or {}).get(node_id))
        rows.append((str(node_id), mem, s, src, str(_get(caps, "chip", "") or ""), str(_get(caps, "model", "") or "")))
    known = sorted(r[2] for r in rows if r[2] > 0)
    # "equal" nodes get the median of the known speeds, so they neither dominate nor starve
    equal = known[len(known) // 2] if known else DEFAULT_GBPS
    nodes = []
    for node_id, mem, s, src, chip, model in rows:
        declared = s if s > 0 else equal
        gbps = bucket_speed(declared) or bucket_speed(DEFAULT_GBPS)
        nodes.append(Node(node_id, int(mem), budget_bytes(mem, headroom), gbps, src, int(polarity(node_id)), chip,
                          model, round(declared, 6)))
    return nodes


class ClusterError(InputError):
    """A cluster description we cannot use."""


def nodes_from_cluster_file(cf: ClusterFile, headroom: float = HEADROOM,
                            measured: Mapping[str, Mapping] | None = None) -> list[Node]:
    """The peers of exo's manual-discovery file, parsed by exo_gay.clusterfile; each needs a memory."""
    entries = []
    for peer in cf.peers:
        mem = peer.device_capabilities.get("memory")
        if mem is None:
            raise ClusterError(f"cluster file: peer {peer.node_id!r} has no device_capabilities.memory")
        if not isinstance(mem, (int, float)) or isinstance(mem, bool) or mem < 0:
            raise ClusterError(f"cluster file: peer {peer.node_id!r} memory must be a number of MB >= 0")
        entries.append((peer.node_id, peer.device_capabilities, peer.gay or None))
    return build_nodes(entries, headroom, measured)


def nodes_from_topology(topology: Any, headroom: float = HEADROOM,
                        measured: Mapping[str, Mapping] | None = None) -> list[Node]:
    """exo's Topology, anything with .nodes {id: caps}, or a plain {id: caps} dict."""
    nodes = getattr(topology, "nodes", topology)
    if not isinstance(nodes, Mapping):
        raise ClusterError("topology: expected .nodes as a mapping of node id to capabilities")
    entries = []
    for node_id, caps in nodes.items():
        if isinstance(caps, Mapping) and "device_capabilities" in caps:
            entries.append((node_id, caps["device_capabilities"], caps.get("gay")))
        else:
            entries.append((node_id, caps, None))
    return build_nodes(entries, headroom, measured)


def ring_order(nodes: list[Node]) -> list[Node]:
    """Pipeline order: most memory first (as exo's default), then fastest, then node id.

    The order depends on nothing but bucketed values and ids, so it is the same on every
    node; memory first means more memory only moves a node towards the front.
    """
    return sorted(nodes, key=lambda n: (-n.budget_bytes, -n.gbps, n.node_id))
