"""exo v1's default pipeline split against the gay split, on exo v1's own cards, by one measure.

    .venv/bin/python benchmarks/bench_exov1_split.py [--context 4096] [--json]

exo's split is exo's real code (exo.master.placement_utils.get_shard_assignments, from the
snapshot), ours is exo_gay.exov1.adapter's; both over the same ring order, both measured by
exo-gay's cost model: decode ms per token = every stage's streamed bytes (weights a token
reads: MoE only its active experts; KV cache at the context) over the node's memory
bandwidth (Apple's published figure for its chip), plus 3 ms per hop; "fits" = every node
holds its layers' weights and KV cache within the memory exo reports available. Run from
exo-gay's venv, the script re-runs itself in exo v1's venv (tests/exo_v1_env.py builds it
from ../shared/exo-src beside the checkout on first use).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GB = 10**9

# name -> [(node, chip, GB available to exo)], in ring order
CLUSTERS = {
    "A: Ultra + 3 small": [("studio", "Apple M2 Ultra", 180), ("mbp", "Apple M4 Pro", 42), ("mini", "Apple M4", 28),
                           ("air", "Apple M2", 20)],
    "B: 2 Max + mini": [("mbp-m3max", "Apple M3 Max", 115), ("mbp-m4max", "Apple M4 Max", 58),
                        ("mini", "Apple M4", 13)],
    "C: same RAM, 3 speeds": [("m4max", "Apple M4 Max", 58), ("m4pro", "Apple M4 Pro", 58),
                              ("m1pro", "Apple M1 Pro", 28)],
}
CARDS = [  # (file stem, dense or MoE)
    "mlx-community--Llama-3.3-70B-Instruct-4bit",
    "mlx-community--Qwen3.5-27B-8bit",
    "mlx-community--Qwen3-30B-A3B-8bit",
    "mlx-community--gpt-oss-120b-MXFP4-Q8",
    "mlx-community--GLM-4.5-Air-8bit",
    "mlx-community--MiniMax-M2.5-4bit",
    "mlx-community--Qwen3-235B-A22B-Instruct-2507-4bit",
]


def reexec_in_exo_venv() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    import tempfile

    import exo_v1_env

    why = exo_v1_env.skip_reason()
    if why:
        raise SystemExit(f"bench_exov1_split: {why}")
    env = exo_v1_env.build(exo_v1_env.python313(), exo_v1_env.snapshot())
    home = Path(tempfile.mkdtemp(prefix="exo-v1-bench-"))
    e = env.env(home)
    e["EXO_V1_CARDS"] = str(env.cards_dir)
    os.execve(str(env.python), [str(env.python), __file__, *sys.argv[1:]], e)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--context", type=int, default=4096)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    try:
        import exo.master.placement_utils  # noqa: F401
    except ImportError:
        reexec_in_exo_venv()

    import anyio
    from exo.master.placement_utils import get_shard_assignments
    from exo.shared.models.model_cards import ModelCard
    from exo.shared.types.common import NodeId
    from exo.shared.types.profiling import MemoryUsage
    from exo.shared.types.topology import Cycle
    from exo.shared.types.worker.shards import Sharding

    from exo_gay.exov1.adapter import plan_segments
    from exo_gay.exov1.cards import V1Card, active_share, card_costs
    from exo_gay.strategies.hardware import lookup

    def chip_gbps(chip: str) -> float:
        found = lookup(chip)
        return found[1].gbps if found else 0.0
    from exo_gay.exov1.plan import NodeInfo, PlacementError, ring_nodes
    from exo_gay.strategies.planner import evaluate
    from exo_gay.strategies.problem import make_problem

    cards_dir = Path(os.environ["EXO_V1_CARDS"])
    rows = []
    for cname, spec in CLUSTERS.items():
        ids = [NodeId(n) for n, _, _ in spec]
        mem = {i: MemoryUsage.from_bytes(ram_total=g * GB, ram_available=g * GB, swap_total=0, swap_available=0)
               for i, (_, _, g) in zip(ids, spec, strict=True)}
        gbps = {n: chip_gbps(c) for n, c, _ in spec}
        infos = [NodeInfo(n, g * GB, g * GB, c, n) for n, c, g in spec]
        for stem in CARDS:
            mc = anyio.run(ModelCard.load_from_path, anyio.Path(cards_dir / f"{stem}.toml"))
            card = V1Card.from_mapping(mc.model_dump())
            costs = card_costs(card)
            ring = ring_nodes(infos, 0.0, gbps)  # headroom 0: both splits measured against what exo reports
            problem = make_problem(costs, ring, args.context, 3.0)
            row = {"cluster": cname, "model": card.model_id, "kind": "MoE" if active_share(card) else "dense",
                   "gb": round(card.storage_bytes / GB, 1), "n_layers": card.n_layers}
            try:
                sa = get_shard_assignments(mc, Cycle(node_ids=ids), Sharding.Pipeline, mem)
                exo_segs = [(s.start_layer, s.end_layer) for s in
                            (sa.runner_to_shard[sa.node_to_runner[i]] for i in ids)]
            except ValueError as e:
                exo_segs, row["exo_error"] = None, str(e).split(":")[0]
            try:
                ours = plan_segments(mc, ids, mem, headroom=0.0, gbps=gbps, context=args.context)
            except PlacementError as e:
                ours, row["gay_error"] = None, str(e)[:80]
            for key, segs in (("exo", exo_segs), ("gay", ours)):
                if segs is None:
                    continue
                p = evaluate(problem, segs, "latency")
                row[key] = {"layers": [e - s for s, e in segs], "ms": round(p.latency_ms, 2),
                            "fits": all(m <= n.ram_available for m, n in zip(p.mem_bytes, infos, strict=True))}
            rows.append(row)
    if args.json:
        print(json.dumps({"context": args.context, "clusters": CLUSTERS, "rows": rows}, indent=2))
        return 0
    print(f"context {args.context} tokens, 3 ms per hop; ms = decode ms per token by exo-gay's cost model\n")
    for cname, spec in CLUSTERS.items():
        nodes = ", ".join(f"{n} {c.replace('Apple ', '')} {g} GB {chip_gbps(c):g} GB/s" for n, c, g in spec)
        print(f"**{cname}** ({nodes})\n")
        print("| model | kind | GB | exo v1 layers | exo ms | exo fits | gay layers | gay ms | gay fits | speed-up |")
        print("| --- | --- | ---: | --- | ---: | --- | --- | ---: | --- | ---: |")
        for r in (r for r in rows if r["cluster"] == cname):
            e, g = r.get("exo"), r.get("gay")

            def cell(x, err):
                return ("/".join(map(str, x["layers"])), f"{x['ms']:.1f}", "yes" if x["fits"] else "**no**") \
                    if x else (f"refused: {err}", "", "")

            ec, gc = cell(e, r.get("exo_error", "")), cell(g, r.get("gay_error", ""))
            up = f"{e['ms'] / g['ms']:.2f}x" if e and g else ""
            print(f"| {r['model'].split('/')[-1]} | {r['kind']} | {r['gb']} | {' | '.join(ec)} | {' | '.join(gc)} "
                  f"| {up} |")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
