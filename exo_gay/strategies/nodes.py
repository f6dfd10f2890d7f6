"""Nodes as the planner sees them: a memory budget, a memory bandwidth (GB/s), a compute rate (TFLOPS).

Read from exo's manual-discovery JSON (with an optional "gay" section per peer), an exo
Topology, or plain dicts. Each figure, first known wins: the cluster file's "gay" section, a
measurement (strategies/measure.py), the chip table (strategies/hardware.py, published figures),
exo's own FLOPS figure (compute only), else the median of the known nodes. A color-mining rate
(colors_per_second) is no memory bandwidth: it is shown and ranks otherwise equal nodes, never planned
on as GB/s. Budgets and speeds are bucketed (monotonically) so that every node, from slightly
different readings, plans alike.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..errors import InputError
from . import hardware

if TYPE_CHECKING:  # the strategy inside exo never parses a cluster file: no pydantic schemas to build
    from ..clusterfile import ClusterFile

MB = 2**20
HEADROOM = 0.25  # share of RAM kept back: macOS wires at most ~2/3-3/4 of RAM for the GPU
MEMORY_BUCKET_MB = 64
SPEED_STEP = 1.05  # speeds within 5% share a bucket
DEFAULT_GBPS = 100.0  # nothing known about any node: all alike
DEFAULT_TFLOPS = 10.0


@dataclass(frozen=True)
class Node:
    node_id: str
    memory_mb: int  # as exo reports it (DeviceCapabilities.memory)
    budget_bytes: int  # bucketed memory minus headroom
    gbps: float  # bucketed memory bandwidth, > 0 (decode)
    speed_source: str  # "cluster file", "measured", "chip table", "median of known"
    tflops: float = DEFAULT_TFLOPS  # bucketed dense fp16 compute, > 0 (prefill)
    compute_source: str = "median of known"  # as speed_source, or "exo flops"
    chip: str = ""
    model: str = ""
    declared_gbps: float = field(default=0.0, compare=False)  # before bucketing (shown, never planned on)
    declared_tflops: float = field(default=0.0, compare=False)
    colors_per_second: float = field(default=0.0, compare=False)  # a mining rate: shown, ranks peers
    reference: str = field(default="", compare=False)  # the published source of a chip-table figure

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


def raw_speed(caps: Any, gay: Mapping | None, measured: Mapping | None) -> tuple[float, str, float, str, str]:
    """(GB/s, its source, TFLOPS, its source, the chip table's reference) before defaults and buckets."""
    chip = hardware.lookup(str(_get(caps, "chip", "") or ""))
    ref = ""
    bw, bw_src = _num((gay or {}).get("mem_bandwidth_gbs")), "cluster file"
    if not bw:
        bw, bw_src = _num((measured or {}).get("mem_bandwidth_gbs")), "measured"
    if not bw and chip:
        bw, bw_src, ref = chip[1].gbps, "chip table", chip[1].source
    tf, tf_src = _num((gay or {}).get("tflops")), "cluster file"
    if not tf:
        tf, tf_src = _num((measured or {}).get("tflops")), "measured"
    if not tf and chip and chip[1].tflops:
        tf, tf_src, ref = chip[1].tflops, "chip table", chip[1].source
    if not tf:
        flops = _get(caps, "flops")
        tf, tf_src = (_num(_get(flops, "fp16", 0)) if flops is not None else 0.0), "exo flops"
    return bw, (bw_src if bw else "median of known"), tf, (tf_src if tf else "median of known"), ref


def build_nodes(entries: Iterable[tuple[str, Any, Mapping | None]], headroom: float = HEADROOM,
                measured: Mapping[str, Mapping] | None = None) -> list[Node]:
    """Nodes from (node_id, capabilities, gay-section) triples, sorted by node id."""
    rows = []
    for node_id, caps, gay in sorted(entries, key=lambda e: str(e[0])):
        mem = _num(_get(caps, "memory", 0))
        bw, bws, tf, tfs, ref = raw_speed(caps, gay, (measured or {}).get(node_id))
        cps = _num((gay or {}).get("colors_per_second")) or _num(((measured or {}).get(node_id) or {})
                                                                  .get("colors_per_second"))
        rows.append((str(node_id), mem, bw, bws, tf, tfs, ref, cps, str(_get(caps, "chip", "") or ""),
                     str(_get(caps, "model", "") or "")))
    known_bw = sorted(r[2] for r in rows if r[2] > 0)
    known_tf = sorted(r[4] for r in rows if r[4] > 0)
    # unknown nodes get the median of the known figures, so they neither dominate nor starve
    eq_bw = known_bw[len(known_bw) // 2] if known_bw else DEFAULT_GBPS
    eq_tf = known_tf[len(known_tf) // 2] if known_tf else DEFAULT_TFLOPS
    nodes = []
    for node_id, mem, bw, bws, tf, tfs, ref, cps, chip, model in rows:
        bw, tf = bw if bw > 0 else eq_bw, tf if tf > 0 else eq_tf
        nodes.append(Node(node_id, int(mem), budget_bytes(mem, headroom),
                          bucket_speed(bw) or bucket_speed(DEFAULT_GBPS), bws,
                          bucket_speed(tf) or bucket_speed(DEFAULT_TFLOPS), tfs, chip, model,
                          round(bw, 6), round(tf, 6), cps, ref))
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
    """The canonical order the planner starts from: most memory first (as exo's default), then the
    fastest, then the highest color rate (the seed's ColorBandwidth affinity ranks equal peers), then
    the node id. The planner chooses the pipeline order itself; this order only makes its input, and
    so its ties, the same on every node (it depends on nothing but bucketed values and ids)."""
    return sorted(nodes, key=lambda n: (-n.budget_bytes, -n.gbps, -n.tflops, -bucket_speed(n.colors_per_second),
                                        n.node_id))
