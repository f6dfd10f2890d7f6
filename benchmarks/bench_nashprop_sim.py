"""NashProp at scale: the real tree aggregation (exo_gay/nashprop/aggregate.py) over simulated
members, up to 1,000,000, with message loss and failed members.

    .venv/bin/python benchmarks/bench_nashprop_sim.py                 # 2 .. 1,000,000 members
    .venv/bin/python benchmarks/bench_nashprop_sim.py --sizes 34,1000 --loss 0.05 --json
    .venv/bin/python benchmarks/bench_nashprop_sim.py --sizes 10000 --fail-rounds 2-11 --notice-delay 2 \
        --rng-seeds 1-4                                                # late kills, each member its own view

Every member is an AggNode; each round (a sync point) it sends at most one summary up, or the
Final down to its children. The run is exact when every live member holds the same Final and
its XOR equals the XOR of [0, total) computed directly with numpy. Reported per size: messages
per member per sync (mean; most sent and most received by one member in one round), rounds to
the verified result, bytes on the wire (Summary/Final encodings), and wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from exo_gay.nashprop.sim import simulate  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2,34,1000,10000,100000,1000000")
    ap.add_argument("--fan-out", type=int, default=16)
    ap.add_argument("--loss", type=float, default=0.01, help="chance each message is lost (default 0.01)")
    ap.add_argument("--fail-start", type=float, default=0.01, help="members dead before the start (default 1%%)")
    ap.add_argument("--fail-mid", type=float, default=0.001,
                    help="members killed in each kill round (default 0.1%%)")
    ap.add_argument("--fail-rounds", default="2", help="rounds with kills, e.g. 2-11 (default 2)")
    ap.add_argument("--notice-delay", type=int, default=0,
                    help="each member its own view, hearing of a death after 0..D rounds (default 0: one view)")
    ap.add_argument("--per-member", type=int, default=4, help="colors per member (default 4)")
    ap.add_argument("--rng-seeds", default="1", help="runs per size with these random seeds, e.g. 1-4 (default 1)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    if not args.json:
        print(f"fan-out {args.fan_out}, loss {args.loss:.1%}, dead at start {args.fail_start:.1%}, "
              f"killed mid-run {args.fail_mid:.1%}")
        print("| members | depth | msgs/member/sync (mean) | sent per member per sync, 99.9% / max | max recv | rounds "
              "| bytes per member | records / audit msgs per member | liveliness events per member | exact "
              "| wall s (CPU s) |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    lo, _, hi = args.fail_rounds.partition("-")
    fail_rounds = tuple(range(int(lo), int(hi or lo) + 1))
    lo, _, hi = args.rng_seeds.partition("-")
    runs = [(int(float(x)), rs) for x in args.sizes.split(",") for rs in range(int(lo), int(hi or lo) + 1)]
    for n, rs in runs:
        print(f"simulating {n:,} members (random seed {rs}) ...", file=sys.stderr, flush=True)
        r = simulate(n, k=args.fan_out, loss=args.loss, fail_start=args.fail_start, fail_mid=args.fail_mid,
                     per_member=args.per_member, fail_rounds=fail_rounds, notice_delay=args.notice_delay,
                     rng_seed=rs)
        row = dict(vars(r))
        rows.append(row)
        if not args.json:
            print(f"| {n:,} | {r.depth} | {r.per_member_round:.2f} | {r.sent_p999} / {r.sent_max} | {r.recv_max} "
                  f"| {r.rounds} "
                  f"| {r.bytes / n:.0f} | {r.records / n:.1f} / {r.audit_messages / n:.1f} "
                  f"| {r.liveliness_per_member:,} "
                  f"| {'yes' if r.exact else 'NO'} (dead {r.failed_start}+{r.failed_mid}) "
                  f"| {r.wall_s:.1f} ({r.cpu_s:.1f}) |", flush=True)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    return 0 if all(r["exact"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
