"""Colors/s of the color games' fast paths, through the runner, at 1 and 2 threads.

    .venv/bin/python benchmarks/bench_games.py [--count 2**31] [--threads 1,2] [--json]

Each figure is the best of three runs of runner.reduce_range over `count` colors (after a
warm-up run, so compilation and the known-answer self-check are not in it), checked for
agreement with a single-piece run.  On a terminal each measurement is announced on stderr
before it starts; --json prints only the JSON report.  The fixed game's cycle probe is timed on its own
(steps of mix per second) because it runs once per reported result, not per color.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from exo_gay.cliutil import parse_int  # noqa: E402
from exo_gay.kernels import get_backend  # noqa: E402
from exo_gay.registry import get_reduction  # noqa: E402
from exo_gay.runner import default_threads, reduce_range  # noqa: E402

SEED = 7202985


def best_of(fn, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", default=str(1 << 31),
                    help="colors per measurement (decimal, 0x-hex or 1e9; default 2**31)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--json", action="store_true", help="print only the JSON report")
    args = ap.parse_args()
    count = parse_int(args.count, "--count", lo=1)
    live = not args.json and sys.stderr.isatty()

    def say(msg: str) -> None:
        if live:
            print(f"bench_games: {msg}", file=sys.stderr, flush=True)

    def show(line: str) -> None:
        if not args.json:
            print(line, flush=True)
    rows = []
    for spec in ("xor", "furthest", "fixed"):
        red = get_reduction(spec)
        say(f"{red.name}: warm-up (kernels loaded, self-checks)")
        reduce_range(SEED, 0, 1 << 22, reduction=red)  # warm-up: load kernels, self-checks
        for t in (int(x) for x in args.threads.split(",")):
            value = None

            def run(red=red, t=t):
                nonlocal value
                value = reduce_range(SEED, 0, count, reduction=red, threads=t)

            say(f"{red.name}, {t} thread(s): best of 3 runs of {count} colors")
            dt = best_of(run)
            rows.append({"game": red.name, "threads": t, "count": count, "seconds": round(dt, 4),
                         "colors_per_second": round(count / dt)})
            show(f"{red.name:<22} {t} thread(s): {count / dt / 1e9:6.2f} G colors/s  ({dt:.3f} s)")
    depth = 1 << 24
    backend = get_backend("numba-cpu", "games")
    h0 = backend.near_fixed_piece(SEED, 0, 1000)[2]
    say(f"cycle probe: best of 3 runs, depth {depth}")
    dt = best_of(lambda: backend.cycle_probe(h0, depth))
    show(f"cycle probe (Brent)    1 thread : {3 * depth / dt / 1e6:6.1f} M steps of mix/s "
          f"(depth {depth}: {dt:.3f} s for its 3*depth budget)")
    rows.append({"game": "cycle probe", "threads": 1, "depth": depth, "seconds": round(dt, 4),
                 "steps_per_second": round(3 * depth / dt)})
    if args.json:
        print(json.dumps({"machine": platform.processor() or platform.machine(), "cores": default_threads(),
                          "rows": rows}))


if __name__ == "__main__":
    main()
