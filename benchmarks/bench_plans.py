"""Plans compared on clusters from exo's issues, all scored by the same time model (strategies/planner.py).

Run: .venv/bin/python benchmarks/bench_plans.py [--json] [--context 4096] [--prompt 1024]

Methods (each gives contiguous layer ranges; the time model scores them alike):
  ours      GayShardingStrategy's planner: ring order and split chosen, nodes kept only when they pay
  exact     the exact optimum over orders and splits (solve(exact=True)); "-" where too large to search
  heur      the heuristic order search alone (solve(exact=False)), to measure its gap to the exact answer
  v1        exo v1's allocate_layers_proportionally (memory fractions, every node >= 1 layer), nodes in
            descending memory order, loaded at run time from ../shared/exo-src/exo-v1-*.tar.gz
  legacy    legacy exo's RingMemoryWeightedPartitioningStrategy + map_partitions_to_shards, loaded at
            run time from ../shared/exo-src/exo-legacy-*.tar.gz
  water     water-filling by bandwidth under memory caps (as Parallax does): layers in proportion to
            GB/s, a node at its memory cap keeps its cap and the rest is shared again; bandwidth order

exo's functions are read from the unpacked snapshot: a real import is tried first; exo's packages need
dependencies (psutil, pydantic, exo's own metadata) that our venv lacks, so the function definitions are
then compiled from the snapshot's own source file (ast), never copied into this repository.

Figures: tokens/s of one request (1000 / decode ms per token), time to first token of a --prompt
prompt, and how many (cluster, card) pairs run out of memory (a node over its budget: weights, every
expert of an MoE, KV cache at --context, 25% headroom).
"""

from __future__ import annotations

import argparse
import ast
import glob
import json
import os
import re
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exo_gay.strategies.model_costs import load_costs  # noqa: E402
from exo_gay.strategies.nodes import build_nodes, ring_order  # noqa: E402
from exo_gay.strategies.planner import (  # noqa: E402
    EXACT_WORK,
    PlanInfeasible,
    evaluate,
    exact_work,
    solve,
    solve_keeping_nodes,
)
from exo_gay.strategies.problem import make_problem  # noqa: E402

SRC = Path(os.environ.get("EXO_GAY_EXO_SRC") or Path(__file__).resolve().parents[2] / "shared" / "exo-src")
GiB_MB = 1024


# ----------------------------------------------------------------------------- the clusters

def node(name, chip, mem_gb, gbps=None, tflops=None):
    gay = {}
    if gbps:
        gay["mem_bandwidth_gbs"] = gbps
    if tflops:
        gay["tflops"] = tflops
    return (name, {"chip": chip, "memory": int(mem_gb * GiB_MB), "flops": {"fp16": EXO_FLOPS.get(chip, 0.0)}}, gay)


def clusters() -> dict[str, list]:
    seed_rest = [("Apple M1", 16), ("Apple M2 Pro", 32), ("Apple M3 Max", 64), ("Apple M4 Pro", 48),
                 ("NVIDIA GEFORCE RTX 4090", 24)]
    return {
        # exo#957: five Macs with their measured STREAM triad bandwidths (GB/s)
        "#957 5 Macs (STREAM)": [node("laptop", "Apple M4 Max", 36, 264.4),
                                 node("studio-a", "Apple M3 Ultra", 96, 344.0),
                                 node("studio-b", "Apple M1 Ultra", 64, 308.7),
                                 node("studio-c", "Apple M3 Ultra", 96, 351.2),
                                 node("studio-d", "Apple M3 Max", 36, 177.6)],
        # exo#1936: 128 + 96 GB (chips assumed: an M4 Max 128 GB and an M3 Ultra 96 GB)
        "#1936 128+96 GB": [node("m4max-128", "Apple M4 Max", 128), node("m3ultra-96", "Apple M3 Ultra", 96)],
        # exo#1179: 97.5 / 1.25 / 1.25 GB free (chips assumed: an M2 Max and two M1s)
        "#1179 97.5/1.25/1.25": [node("big", "Apple M2 Max", 97.5), node("small-1", "Apple M1", 1.25),
                                 node("small-2", "Apple M1", 1.25)],
        # issue 25's box: a 64 GB M2 Max, a 16 GB M2 and an 8 GB RTX 3070
        "M2 Max+M2+RTX 3070": [node("max", "Apple M2 Max", 64), node("m2", "Apple M2", 16),
                               node("rtx", "NVIDIA GEFORCE RTX 3070", 8)],
        # exo#1330: four Mac mini M4 Pro 24 GB
        "#1330 4x M4 Pro 24": [node(f"mini-{i}", "Apple M4 Pro", 24) for i in range(4)],
        # exo#1687: two Mac Studio M3 Ultra 96 GB
        "#1687 2x M3 Ultra 96": [node(f"studio-{i}", "Apple M3 Ultra", 96) for i in range(2)],
        # exo#1035: MacBook Pro M1 Pro 32 GB + Mac Studio M1 Max 64 GB
        "#1035 M1 Pro 32+M1 Max 64": [node("mbp", "Apple M1 Pro", 32), node("studio", "Apple M1 Max", 64)],
        # configs/cluster.example.json as exo reads it (M3 Max 36, M2 Pro 16, M2 8, H100 box 8 GB)
        "cluster.example.json": [node("causality", "Apple M3 Max", 36, 300), node("hatchery", "Apple M2 Pro", 16),
                                 node("2-monad", "Apple M2", 8), node("h100-box", "NVIDIA H100", 8)],
        # the seed's 34 nodes: causality (M3 Max), hatchery (M2), 2-monad, and 31 more (an assumed mix)
        "seed's 34 nodes": [node("causality", "Apple M3 Max", 36), node("hatchery", "Apple M2", 16),
                            node("2-monad", "Apple M2", 8)]
                           + [node(f"node-{i:02d}", *seed_rest[i % 5]) for i in range(31)],
    }


CARDS = ["llama-3.2-3b", "llama-3.1-8b", "qwen-2.5-32b", "llama-3.1-70b", "deepseek-coder-v2-lite", "deepseek-v3"]


# ----------------------------------------------------------------------------- exo's code, at run time

def _unpack(pattern: str, into: str) -> Path:
    found = sorted(glob.glob(str(SRC / pattern)))
    if not found:
        raise SystemExit(f"bench_plans: no {pattern} under {SRC} (set EXO_GAY_EXO_SRC)")
    with tarfile.open(found[-1]) as t:
        t.extractall(into, filter="data")
    return Path(into) / "exo"


def _compile_defs(path: Path, names: set[str], namespace: dict) -> dict:
    """Compile only the named top-level definitions of a snapshot file (its own source) into namespace."""
    tree = ast.parse(path.read_text())
    keep = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in names]
    missing = names - {n.name for n in keep}
    if missing:
        raise SystemExit(f"bench_plans: {path} has no {', '.join(sorted(missing))}")
    exec(compile(ast.Module(body=keep, type_ignores=[]), str(path), "exec"), namespace)
    return namespace


@dataclass
class _Partition:  # legacy exo's Partition has these fields
    node_id: str
    start: float
    end: float


@dataclass
class _Shard:  # legacy exo's Shard has these fields
    model_id: str
    start_layer: int
    end_layer: int
    n_layers: int


class _Caps:
    def __init__(self, memory):
        self.memory = memory


class _Topology:
    def __init__(self, nodes):
        self._nodes = nodes

    def all_nodes(self):
        return iter(self._nodes.items())


def load_exo(tmp: str):
    """(v1 allocate_layers_proportionally, legacy partition(nodes, L) -> [(id, start, end_excl)], how)."""
    how = []
    v1 = _unpack("exo-v1-*.tar.gz", os.path.join(tmp, "v1"))
    try:
        sys.path.insert(0, str(v1 / "src"))
        from exo.master.placement_utils import allocate_layers_proportionally  # type: ignore
        how.append("v1: imported")
    except Exception as e:  # noqa: BLE001 - exo's package needs what our venv lacks
        ns = _compile_defs(v1 / "src/exo/master/placement_utils.py", {"allocate_layers_proportionally"}, {})
        allocate_layers_proportionally = ns["allocate_layers_proportionally"]
        how.append(f"v1: compiled from its source file ({type(e).__name__} on import)")
    finally:
        sys.path.remove(str(v1 / "src"))
        for m in [m for m in sys.modules if m == "exo" or m.startswith("exo.")]:
            del sys.modules[m]
    legacy = _unpack("exo-legacy-*.tar.gz", os.path.join(tmp, "legacy"))
    topo_dir = legacy / "exo/topology"
    ns = {"PartitioningStrategy": object, "Topology": _Topology, "Partition": _Partition, "List": list,
          "Shard": _Shard}
    _compile_defs(topo_dir / "ring_memory_weighted_partitioning_strategy.py",
                  {"RingMemoryWeightedPartitioningStrategy"}, ns)
    _compile_defs(topo_dir / "partitioning_strategy.py", {"map_partitions_to_shards"}, ns)
    how.append("legacy: compiled from its source files (its package imports psutil and pydantic)")

    def legacy_partition(mem_mb: dict[str, int], n_layers: int):
        parts = ns["RingMemoryWeightedPartitioningStrategy"]().partition(
            _Topology({k: _Caps(v) for k, v in mem_mb.items()}))
        shards = ns["map_partitions_to_shards"](parts, n_layers, "m")
        # exo drops zero-layer partitions, so shards no longer line up with partitions: the ring breaks
        if len(shards) != len(parts):
            return None
        return [(p.node_id, s.start_layer, s.end_layer + 1) for p, s in zip(parts, shards, strict=True)]

    return allocate_layers_proportionally, legacy_partition, how


def exo_chip_flops() -> dict[str, float]:
    """exo's fp16 TFLOPS per chip (legacy exo's CHIP_FLOPS), read from the snapshot's source text."""
    with tempfile.TemporaryDirectory() as tmp:
        legacy = _unpack("exo-legacy-*.tar.gz", tmp)
        text = (legacy / "exo/topology/device_capabilities.py").read_text()
    return {m.group(1): float(m.group(2)) for m in
            re.finditer(r'"([^"]+)":\s*DeviceFlops\(fp32=[^,]+,\s*fp16=([0-9.]+)\s*\*\s*TFLOPS', text)}


EXO_FLOPS: dict[str, float] = {}


# ----------------------------------------------------------------------------- the baselines as segments

def water_fill(p, order: list[int]) -> list[tuple[int, int]] | None:
    """Layers in proportion to bandwidth, each node capped by how many (average) layers its budget holds."""
    L = p.n_layers
    per = sum(p.mem_bytes) / L
    cap = {j: int(p.budgets[j] // per) for j in order}
    share = {j: 0.0 for j in order}
    left, free = float(L), [j for j in order if cap[j] > 0]
    while left > 1e-9 and free:
        bw = sum(p.gbps[j] for j in free)
        over = [j for j in free if share[j] + left * p.gbps[j] / bw > cap[j]]
        if not over:
            for j in free:
                share[j] += left * p.gbps[j] / bw
            left = 0.0
            break
        for j in over:
            left -= cap[j] - share[j]
            share[j] = cap[j]
        free = [j for j in free if j not in over]
    if left > 1e-9:
        return None  # the caps hold less than the model
    counts = {j: int(share[j]) for j in order}
    for j in sorted(order, key=lambda j: -(share[j] - int(share[j])))[: L - sum(counts.values())]:
        counts[j] += 1
    return _segments(p.n_nodes, [(j, counts[j]) for j in order])


def _segments(n_nodes, counts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    segs, b = [(0, 0)] * n_nodes, 0
    for j, c in counts:
        if c > 0:
            segs[j] = (b, b + c)
            b += c
    return segs


def score(p, segs):
    """(tokens/s, ttft ms, fits) of segments; (None, None, False) when there is no plan."""
    if segs is None:
        return None, None, False
    plan = evaluate(p, segs, "latency")
    fits = all(m <= b for m, b, (s, e) in zip(plan.mem_bytes, p.budgets, segs, strict=True) if e > s)
    return 1000.0 / plan.latency_ms, plan.ttft_ms, fits


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--context", type=int, default=4096)
    ap.add_argument("--prompt", type=int, default=1024)
    ap.add_argument("--exact-limit", type=float, default=2e9,
                    help="search the exact optimum while its work (cells) stays under this (default 2e9)")
    args = ap.parse_args()
    EXO_FLOPS.update(exo_chip_flops())
    tty = sys.stderr.isatty() and not args.json
    with tempfile.TemporaryDirectory() as tmp:
        v1_alloc, legacy_partition, how = load_exo(tmp)
        rows, gaps = [], []
        cl = clusters()
        for ci, (cname, entries) in enumerate(cl.items()):
            ring = ring_order(build_nodes(entries))
            ids = [n.node_id for n in ring]
            for card in CARDS:
                if tty:
                    print(f"\r[{ci + 1}/{len(cl)}] {cname}: {card}".ljust(70), end="", file=sys.stderr, flush=True)
                costs = load_costs(card)
                p = make_problem(costs, ring, args.context, 3.0, args.prompt)
                row = {"cluster": cname, "card": card, "nodes": len(ring)}
                t0 = time.perf_counter()
                try:
                    ours = solve_keeping_nodes(p, "latency", False)
                    row["ours"] = score(p, ours.segments)
                    row["ours_exact_search"] = ours.exact
                except PlanInfeasible:
                    row["ours"] = (None, None, False)
                row["ours_ms"] = round((time.perf_counter() - t0) * 1e3, 2)
                work = exact_work(p)
                if work <= args.exact_limit:
                    try:
                        row["exact"] = score(p, solve(p, "latency", exact=True, choose_order=True).segments)
                    except PlanInfeasible:
                        row["exact"] = (None, None, False)
                else:
                    row["exact"] = None
                try:
                    row["heur"] = score(p, solve(p, "latency", exact=False, choose_order=True).segments)
                except PlanInfeasible:
                    row["heur"] = (None, None, False)
                if row["exact"] and row["exact"][0] and row["heur"][0]:
                    gaps.append(row["exact"][0] / row["heur"][0] - 1.0)
                by_mem = sorted(range(len(ring)), key=lambda j: (-ring[j].memory_mb, ids[j]))
                try:
                    total = sum(ring[j].memory_mb for j in by_mem)
                    counts = v1_alloc(p.n_layers, [ring[j].memory_mb / total for j in by_mem])
                    row["v1"] = score(p, _segments(len(ring), list(zip(by_mem, counts, strict=True))))
                except (ValueError, AssertionError):
                    row["v1"] = (None, None, False)  # v1 refuses: fewer layers than nodes
                lp = legacy_partition({n.node_id: n.memory_mb for n in ring}, p.n_layers)
                if lp is None:
                    row["legacy"] = (None, None, False)
                else:
                    segs = [(0, 0)] * len(ring)
                    for nid, s, e in lp:
                        segs[ids.index(nid)] = (s, e)
                    row["legacy"] = score(p, segs)
                row["water"] = score(p, water_fill(p, sorted(range(len(ring)), key=lambda j: (-ring[j].gbps, ids[j]))))
                rows.append(row)
        if tty:
            print("\r" + " " * 70 + "\r", end="", file=sys.stderr)
    methods = ["ours", "exact", "v1", "legacy", "water"]
    oom = {m: sum(1 for r in rows if r.get(m) and not r[m][2]) for m in methods + ["heur"]}
    worst_gap = max(gaps, default=0.0)
    if args.json:
        print(json.dumps({"rows": rows, "out_of_memory": oom, "heuristic_gap_max": worst_gap,
                          "heuristic_compared": len(gaps), "exo_code": how, "exact_work_limit": EXACT_WORK}, indent=1))
        return 0
    print(f"context {args.context} tokens, prompt {args.prompt} tokens, 3 ms per hop, 25% headroom; "
          f"tokens/s (first token ms); OOM = out of memory or no plan")
    print("exo code: " + "; ".join(how))
    head = f"{'cluster':26} {'card':23}" + "".join(f"{m:>15}" for m in methods)
    print(head)

    def cell(v):
        if v is None:
            return f"{'-':>15}"
        tps, ttft, fits = v
        return f"{'OOM':>15}" if not fits or tps is None else f"{tps:7.1f} ({ttft:5.0f})"

    for r in rows:
        print(f"{r['cluster'][:26]:26} {r['card'][:23]:23}" + "".join(cell(r.get(m)) for m in methods))
    print("out of memory / no plan: " + ", ".join(f"{m} {oom[m]}" for m in methods) + f" (of {len(rows)})")
    beaten = {m: sum(1 for r in rows if r.get(m) and r[m][2] and r["ours"][2] and r[m][0] > r["ours"][0] * 1.0001)
              for m in ("v1", "legacy", "water")}
    print("pairs where a baseline has more tokens/s than ours: " + ", ".join(f"{m} {v}" for m, v in beaten.items()))
    missed = sum(1 for r in rows if r.get("exact") and r["exact"][2] and not r["heur"][2])
    print(f"heuristic order search vs exact: worst gap {worst_gap:.2%} in tokens/s over {len(gaps)} pairs; "
          f"no plan where the exact search found one: {missed}")
    slow = max(rows, key=lambda r: r["ours_ms"])
    print(f"planning time: at most {slow['ours_ms']:.1f} ms ({slow['cluster']}, {slow['card']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
