"""Which loop shape the fingerprint kernel uses, measured: vector width x independent accumulators.

    .venv/bin/python benchmarks/bench_kernel_shapes.py [--target haswell] [--repetitions 9] [--json]

Compiles the canonical kernel (exo_gay/kernels/llvm_cpu.py) in this process for every
(vector bits, accumulators) pair, uncached, for this CPU or for ``--target`` (an LLVM CPU
name with its default features, e.g. haswell for an AVX2-only CPU), and times them on one
core over the same range, interleaved, by the thread's CPU time.  Prints the median G
colors/s of each shape; llvm_cpu.VECTOR_BITS / ACCUMULATORS are the shape it picked.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from statistics import median

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from exo_gay.bench import LoadMeter, load_text, machine  # noqa: E402
from exo_gay.kernels import llvm_cpu  # noqa: E402

SHAPES = [(bits, acc) for bits in (256, 512) for acc in (1, 2, 4, 8)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", default=None, help="LLVM CPU name (default: this CPU, its own features)")
    ap.add_argument("--repetitions", type=int, default=9)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    live = not args.json and sys.stderr.isatty()
    target = (args.target, "") if args.target else llvm_cpu.target()
    chosen = (llvm_cpu.VECTOR_BITS, llvm_cpu.ACCUMULATORS)
    compiled = {}
    for bits, acc in SHAPES:
        llvm_cpu.VECTOR_BITS, llvm_cpu.ACCUMULATORS = bits, acc
        compiled[(bits, acc)] = llvm_cpu.compile_kernels(*target, use_cache=False)  # keeps the code alive
    llvm_cpu.VECTOR_BITS, llvm_cpu.ACCUMULATORS = chosen
    count = 1 << 27
    load = LoadMeter()
    rates: dict = {shape: [] for shape in SHAPES}
    xors = set()
    for rep in range(args.repetitions):
        if live:
            print(f"bench_kernel_shapes: repetition {rep + 1}/{args.repetitions}", file=sys.stderr, flush=True)
        for shape in (SHAPES if rep % 2 == 0 else SHAPES[::-1]):
            c0 = time.thread_time()
            xors.add(compiled[shape]["canonical"](7202985, count))
            rates[shape].append(count / (time.thread_time() - c0))
    out = {"machine": machine(), "target": target[0], "count": count, "xor_agree": len(xors) == 1,
           "chosen": list(chosen), "load": load.report(),
           "shapes": [{"vector_bits": b, "accumulators": a, "colors_per_second": round(median(rates[(b, a)]))}
                      for b, a in SHAPES]}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{out['machine']['cpu']}; target {target[0]}; {count} colors a run, {args.repetitions} interleaved "
          f"repetitions, thread CPU time; XORs {'agree' if out['xor_agree'] else 'DIFFER'}")
    for s in out["shapes"]:
        mark = "  <- llvm_cpu's shape" if [s["vector_bits"], s["accumulators"]] == out["chosen"] else ""
        print(f"  {s['vector_bits']:3d}-bit vectors x {s['accumulators']} accumulators: "
              f"{s['colors_per_second'] / 1e9:6.3f} G colors/s{mark}")
    print(load_text(out["load"]))


if __name__ == "__main__":
    main()
