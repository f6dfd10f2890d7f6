"""Time GayShardingStrategy.partition: 126 layers x 34 nodes (the heuristic order search) and exo's
llama-3.1-70b card on configs/cluster.example.json (80 layers x 4 nodes, the exact search); each cold
(a new cluster signature: the plan is computed afresh) and cached (the same signature again).

Run: .venv/bin/python benchmarks/bench_partition.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exo_gay.strategies.gay_strategy import GayShardingStrategy  # noqa: E402


def caps(mb, tf):
    return {"model": "m", "chip": "c", "memory": mb, "flops": {"fp32": 0, "fp16": tf, "int8": 0}}


class Topo:
    def __init__(self, nodes):
        self.nodes = nodes


def cold_and_cached(s, topology, trials: int = 20) -> str:
    """Time ``s.partition`` on ``topology(trial)`` twice per trial: cold (the first call; a new memory
    figure per trial is a new signature, so the plan is computed afresh) and cached (the same again)."""
    cold, warm = [], []
    for trial in range(trials):
        topo = topology(trial)
        t0 = time.perf_counter()
        s.partition(topo)
        t1 = time.perf_counter()
        s.partition(topo)
        t2 = time.perf_counter()
        cold.append((t1 - t0) * 1e3)
        warm.append((t2 - t1) * 1e3)
    return (f"cold median {statistics.median(cold):.2f} ms (max {max(cold):.2f}), "
            f"cached median {statistics.median(warm):.3f} ms (max {max(warm):.3f})")


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    cfg = json.loads((root / "configs/models/llama-3.1-70b-instruct-4bit.json").read_text())
    cfg.update(hidden_size=16384, intermediate_size=53248, num_attention_heads=128, num_hidden_layers=126)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(cfg, f)  # a Llama-3.1-405B-shaped 4-bit model: 126 layers
    for objective in ("latency", "throughput"):
        s = GayShardingStrategy(objective=objective, model=f.name, context_tokens=8192)
        times = cold_and_cached(s, lambda trial: Topo({
            f"node-{i:02d}": caps(65536 + 8192 * (i % 5) + 64 * trial, [7.1, 28.4, 53.96][i % 3])
            for i in range(34)}))
        print(f"{objective:>10}: 126 layers x 34 nodes: {times}; "
              f"plan value {s.last_plan.value:.1f} ms, exact search {s.last_plan.exact}")
    Path(f.name).unlink()
    peers = json.loads((root / "configs/cluster.example.json").read_text())["peers"]
    for objective in ("latency", "throughput"):
        s = GayShardingStrategy(objective=objective, model="llama-3.1-70b", context_tokens=8192)
        times = cold_and_cached(s, lambda trial: {
            k: {**v, "device_capabilities": {**v["device_capabilities"],
                                             "memory": v["device_capabilities"]["memory"] + 64 * trial}}
            for k, v in peers.items()})
        print(f"{objective:>10}: 80 layers x 4 nodes: {times}; exact search {s.last_plan.exact}")


if __name__ == "__main__":
    main()
