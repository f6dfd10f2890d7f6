"""NashProp with real processes: the seed's 34 members on this machine, one killed mid-run.

    .venv/bin/python benchmarks/bench_nashprop_34.py                      # 34 members, 1 killed
    .venv/bin/python benchmarks/bench_nashprop_34.py --members 12 --kill 0 --total 1e10

Each member is an `exo-gay nashprop` process (one mining thread, explicit loopback endpoints,
no multicast). Once it has published --kill-at of its pieces, the member at NashProp position 1 (an inner
node of the tree, so its children re-route and its range is taken over) is killed with SIGKILL. Every
survivor must print the XOR of [0, total) computed here in one process by the runner.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from exo_gay.cliutil import parse_int  # noqa: E402
from exo_gay.nashprop.plan import Plan  # noqa: E402
from exo_gay.runner import reduce_range  # noqa: E402
from exo_gay.spi import IHOR_SEED, hex64  # noqa: E402

SEED_HOSTS = ["causality", "hatchery", "2-monad"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=34)
    ap.add_argument("--total", default="6.8e10")
    ap.add_argument("--kill", type=int, default=1, help="members to kill (0 or 1)")
    ap.add_argument("--kill-at", type=int, default=3, help="kill after it published this many pieces (default 3)")
    ap.add_argument("--pieces", default="8")
    ap.add_argument("--sync", default="2")
    ap.add_argument("--fan-out", default="4")
    args = ap.parse_args()
    total = parse_int(args.total, "--total", lo=1, hi=1 << 64)
    names = (SEED_HOSTS + [f"node{i:02d}" for i in range(3, args.members)])[:args.members]
    t = time.perf_counter()
    want = reduce_range(IHOR_SEED, 0, total)
    solo = time.perf_counter() - t
    print(f"reference: {hex64(want)} over [0, {total:.3g}) in {solo:.1f}s in this process (all cores)", flush=True)
    session = secrets.token_hex(6)
    socks = [socket.socket() for _ in names]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    procs = {}
    t0 = time.monotonic()
    for i, name in enumerate(names):
        logs = ["-v"] if args.kill and name == Plan.make(IHOR_SEED, total, names, int(args.fan_out)).order[1] else []
        cmd = [sys.executable, "-m", "exo_gay", *logs, "nashprop", "--seed", str(IHOR_SEED), "--total", str(total),
               "--members", ",".join(names), "--me", name, "--session", session, "--no-scout",
               "--listen", f"tcp/127.0.0.1:{ports[i]}", "--threads", "1", "--pieces", args.pieces,
               "--sync", args.sync, "--fan-out", args.fan_out, "--wait", "300", "--timeout", "1800", "--json"]
        for j in (0, 1, 2):  # a few seeds to connect to; zenoh's gossip finds the rest
            if j != i and j < len(names):
                cmd += ["--connect", f"tcp/127.0.0.1:{ports[j]}"]
        procs[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    victim = Plan.make(IHOR_SEED, total, names, int(args.fan_out)).order[1] if args.kill else None
    if victim:
        # kill it once it has published --kill-at of its pieces (it logs each publication with -v)
        last = -1
        while last < args.kill_at - 1:
            line = procs[victim].stderr.readline()
            if not line:
                break
            if "published records" in line:
                last = int(line.split("published records ")[1].split("..")[1].split()[0])
        state = "running" if procs[victim].poll() is None else f"already exited {procs[victim].returncode}"
        procs[victim].send_signal(signal.SIGKILL)
        print(f"killed {victim} (position 1) at {time.monotonic() - t0:.1f}s after publishing {last + 1} "
              f"of its {args.pieces} pieces ({state})", flush=True)
    results = {}
    for name, p in procs.items():
        while p.poll() is None:  # progress while members run: how many have finished
            done = sum(q.poll() is not None for q in procs.values())
            print(f"\r{done}/{len(procs)} members finished, {time.monotonic() - t0:.0f}s", end="", file=sys.stderr,
                  flush=True)
            time.sleep(1)
        out, err = p.communicate()
        if name == victim:
            continue
        try:
            results[name] = (p.returncode, json.loads(out), err)
        except json.JSONDecodeError:
            results[name] = (p.returncode, {}, err)
    print(file=sys.stderr)
    wall = time.monotonic() - t0
    bad = [(n, rc, err.strip()[-300:]) for n, (rc, doc, err) in results.items()
           if rc != 0 or doc.get("xor") != hex64(want)]
    docs = [doc for rc, doc, _ in results.values() if doc]
    taken = sum(d.get("taken_over_colors", 0) for d in docs)
    print(json.dumps({
        "members": len(names), "killed": victim, "survivors": len(results), "survivors_exact": len(results) - len(bad),
        "xor": hex64(want), "total": total, "wall_s_with_startup": round(wall, 1),
        "mining_s_max": max((d.get("elapsed_s", 0) for d in docs), default=None),
        "colors_per_second": max((d.get("colors_per_second") or 0 for d in docs), default=None),
        "taken_over_colors": taken, "gone_seen": sorted({g for d in docs for g in d.get("gone", [])}),
        "messages_sent_max": max((d.get("messages_sent", 0) for d in docs), default=None),
        "messages_received_max": max((d.get("messages_received", 0) for d in docs), default=None),
        "solo_s": round(solo, 2), "failures": bad[:5]}, indent=2))
    return 0 if not bad else 1


if __name__ == "__main__":
    raise SystemExit(main())
