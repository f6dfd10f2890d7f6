"""Audit benchmark: how often commit-then-audit catches a liar, and what the audits cost.

    .venv/bin/python benchmarks/bench_audit.py                  # both parts
    .venv/bin/python benchmarks/bench_audit.py --part detect --trials 1000
    .venv/bin/python benchmarks/bench_audit.py --part cost --total 2e10
    .venv/bin/python benchmarks/bench_audit.py --part adversary --trials 60
    .venv/bin/python benchmarks/bench_audit.py --part tree

(detect) Trials of the coordinator's audit step (exo_gay/audit.py, as coordinator.py runs it:
    fresh randomness from `secrets` after the commitment, leaves recomputed by the runner, path
    checked) against a miner that commits to a consistent tree over partly faked leaves:
      - "1% of leaves": a host's 16 chunks, 1% of its 4096 leaves faked at random;
      - "one chunk, every leaf": every leaf of one of the 16 chunks faked;
      - "one chunk, one leaf": one leaf of one chunk faked (the cheapest lie that changes the
        fingerprint).
    Printed: caught / trials against the bound 1-(1-f)^s, for several audits per chunk.
(adversary) Whole runs of the real Coordinator (in one process, on 127.0.0.1) against a liar
    from tests/miner_harness.py (built from mesh.proto and docs/proof.md) beside an honest
    miner, each row --trials runs (at least 60):
      - "dodge K": fakes leaves 0..K-1 of every chunk it mines and fails (UNAVAILABLE) every
        audit that names one: it chooses which audits to fail;
      - "forge-label L": honest leaves, the XOR label of one node at level L (2^L leaves under
        it) forged, a root consistent with it (the attack of issue 24).
    A run is a wrong VERIFIED when it ends VERIFIED with another fingerprint than the truth.
    Per chunk a lie passes with probability q <= (1-f)^s (f its faked share of the chunk's
    leaves, s the audits); a run is a wrong VERIFIED only if every chunk the liar committed
    passed (one failed or dodged audit convicts it and reopens all its chunks), so per run
    P(wrong) <= q ("bound q", the rate's bound) and, with n_i commitments in run i, <= q^n_i
    ("sum q^n": the sum over the runs, an upper estimate of the expected count).
(cost) `exo-gay mine`'s embedded default (one local miner per host) on the same bundle with
    --audits 0 and with the default, against the single-process runner: wall time, colors/s,
    and the share of colors the coordinator recomputed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import secrets
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from exo_gay import audit  # noqa: E402
from exo_gay.bundle import make_bundle  # noqa: E402
from exo_gay.cliutil import human_rate, parse_int  # noqa: E402
from exo_gay.mesh.coordinator import DEFAULT_AUDITS, mine_bundle  # noqa: E402
from exo_gay.mesh.wire import audit_context  # noqa: E402
from exo_gay.runner import reduce_range  # noqa: E402

SEED = 7202985
CHUNKS = 16  # a host's chunks at the default chunking
LEAF = 64  # colors per leaf in the detection trials: the audit logic does not depend on it


def _honest_chunks(ctx: bytes) -> list[tuple[int, int, list[int]]]:
    out = []
    for i in range(CHUNKS):
        start, count = i * audit.LEAVES * LEAF, audit.LEAVES * LEAF
        out.append((start, count, [reduce_range(SEED, a, n, threads=1) for a, n in audit.leaf_ranges(start, count)]))
    return out


def _caught(ctx: bytes, chunks, faked: set[tuple[int, int]], s: int) -> bool:
    """One run of the audits over every chunk of a miner faking the (chunk, leaf) pairs in `faked`."""
    for ci, (start, count, honest) in enumerate(chunks):
        leaves = [v ^ 0x9E3779B97F4A7C15 if (ci, k) in faked else v for k, v in enumerate(honest)]
        tree = audit.build(ctx, start, count, leaves)  # the miner's commitment
        ranges = audit.leaf_ranges(start, count)
        for k in audit.choose_leaves(secrets.token_bytes(32), tree.root, tree.n_leaves, s):
            if not audit.verify_path(ctx, start, count, tree.n_leaves, tree.root, tree.value, k,
                                     tree.leaf_value(k), tree.path(k)):
                return True
            a, n = ranges[k]
            if reduce_range(SEED, a, n, threads=1) != tree.leaf_value(k):
                return True
    return False


def part_detect(trials: int, audits_list: list[int]) -> list[dict]:
    ctx = audit_context("bench" * 8, SEED, "canonical", "xor")
    chunks = _honest_chunks(ctx)
    n_leaves = CHUNKS * audit.LEAVES
    rng = random.Random(1)
    scenarios = {
        "1% of leaves": lambda: {divmod(x, audit.LEAVES) for x in rng.sample(range(n_leaves), n_leaves // 100)},
        "one chunk, every leaf": lambda: {(c, k) for c in [rng.randrange(CHUNKS)] for k in range(audit.LEAVES)},
        "one chunk, one leaf": lambda: {(rng.randrange(CHUNKS), rng.randrange(audit.LEAVES))},
    }
    rows = []
    for s in audits_list:
        for name, make in scenarios.items():
            caught = 0
            f_total = None
            for _ in range(trials):
                faked = make()
                f_total = len(faked) / n_leaves
                caught += _caught(ctx, chunks, faked, s)
            # the bound over every audit of the miner: f over all its leaves, s per chunk
            bound = audit.detection_probability(f_total, s * CHUNKS)
            rows.append({"scenario": name, "audits_per_chunk": s, "cost": s / audit.LEAVES, "trials": trials,
                         "caught": caught, "rate": caught / trials, "bound": round(bound, 4)})
    return rows


ADVERSARIES = ("dodge:1", "dodge:3", "dodge:26", "dodge:128", "forge-label:1", "forge-label:4", "forge-label:7")


def _pass_chance(behaviour: str, s: int) -> tuple[float, float]:
    """(the stated bound (1-f)^s, the exact chance without replacement) that one chunk's lie passes."""
    from math import comb

    kind, _, arg = behaviour.partition(":")
    k = int(arg) if kind == "dodge" else 1 << int(arg)
    return (1 - k / audit.LEAVES) ** s, comb(audit.LEAVES - k, s) / comb(audit.LEAVES, s)


async def _adversary_rows(trials: int, s: int, chunks: int, colors: int) -> list[dict]:
    import grpc

    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from miner_harness import Adversary, handlers

    from exo_gay.mesh.coordinator import Coordinator
    from exo_gay.mesh.peers import Peer
    from exo_gay.mesh.service import start_miner

    logging.getLogger("exo_gay").setLevel(logging.ERROR)
    total = 2 * chunks * colors
    truth = reduce_range(SEED, 0, total, threads=1)
    bundle = make_bundle(SEED, total, ["liar", "honest"], chunk_size=colors)
    honest, honest_port, _ = await start_miner("honest", threads=1)
    rows = []
    try:
        for behaviour in ADVERSARIES:
            adv = Adversary("liar", behaviour)
            server = grpc.aio.server()
            server.add_generic_rpc_handlers((handlers(adv),))
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            peers = [Peer("liar", f"127.0.0.1:{port}"), Peer("honest", f"127.0.0.1:{honest_port}")]
            q_bound, q_exact = _pass_chance(behaviour, s)
            wrong = convicted = verified = committed = 0
            bound = exact = 0.0
            try:
                for _ in range(trials):
                    before = adv.mined
                    adv.trees.clear()
                    rep = await Coordinator(bundle, peers, audits=s, wait_peers_s=5).run()
                    n = adv.mined - before
                    committed += n
                    bound += q_bound ** n
                    exact += q_exact ** n
                    convicted += "liar" in rep.wrong_miners
                    verified += rep.verified
                    wrong += rep.verified and int(rep.combined["xor"], 16) != truth
            finally:
                await server.stop(None)
            rows.append({"adversary": behaviour, "audits_per_chunk": s, "trials": trials, "verified": verified,
                         "wrong_verified": wrong, "convicted": convicted,
                         "mean_commitments": round(committed / trials, 2), "per_chunk_bound": round(q_bound, 4),
                         "bound": round(bound, 2), "exact": round(exact, 2)})
    finally:
        await honest.stop(None)
    return rows


def part_adversary(trials: int, s: int, chunks: int = 4, colors: int = 4096) -> list[dict]:
    if trials < 60:
        raise SystemExit("--trials: at least 60 for the adversary part")
    return asyncio.run(_adversary_rows(trials, s, chunks, colors))


def part_tree(rounds: int = 40) -> dict:
    """The commitment's own cost: building a 256-leaf tree (every chunk a miner answers) and
    checking 5 paths (every audited chunk), best of ``rounds``."""
    import timeit

    rng = random.Random(5)
    vals = [rng.getrandbits(64) for _ in range(audit.LEAVES)]
    ctx = audit_context("bench" * 8, SEED, "canonical", "xor")
    tree = audit.build(ctx, 0, 1 << 30, vals)
    build = min(timeit.repeat(lambda: audit.build(ctx, 0, 1 << 30, vals), number=20, repeat=rounds)) / 20
    check = min(timeit.repeat(lambda: [audit.verify_path(ctx, 0, 1 << 30, audit.LEAVES, tree.root, tree.value, k,
                                                         vals[k], tree.path(k)) for k in range(5)],
                              number=20, repeat=rounds)) / 20
    return {"build_us": round(build * 1e6, 1), "verify_5_paths_us": round(check * 1e6, 1)}


def part_cost(total: int, rounds: int) -> dict:
    hosts = ["causality", "hatchery"]
    bundle = make_bundle(SEED, total, hosts)
    reduce_range(SEED, 0, 1 << 20)  # compile and self-check before timing
    runner_s = None
    for _ in range(rounds):
        t0 = time.perf_counter()
        expected = reduce_range(SEED, 0, total)
        runner_s = min(runner_s or 1e99, time.perf_counter() - t0)
    out = {"total": total, "runner_s": runner_s}
    best_of: dict[int, tuple[float, float]] = {}
    for _ in range(rounds):  # interleaved, so a burst of load from elsewhere hits both alike
        for audits in (0, DEFAULT_AUDITS):
            best = best_of.get(audits)
            t0, c0 = time.perf_counter(), time.process_time()
            rep = asyncio.run(mine_bundle(bundle, audits=audits))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0  # miners and coordinator: one process
            assert rep.verified and int(rep.combined["xor"], 16) == expected
            if best is None or cpu < best[1]:
                best_of[audits] = (wall, cpu, rep.guarantee.audit_share)
    for audits, (wall, cpu, share) in best_of.items():
        out[f"audits_{audits}"] = {"wall_s": wall, "cpu_s": cpu, "audit_share": share}
    a0, a5 = out["audits_0"], out[f"audits_{DEFAULT_AUDITS}"]
    out["overhead_wall"] = a5["wall_s"] / a0["wall_s"] - 1
    out["overhead_cpu"] = a5["cpu_s"] / a0["cpu_s"] - 1
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("detect", "cost", "adversary", "tree", "both"), default="both")
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--audits", default="1,5,13,26", help="audits per chunk to try (comma-separated)")
    ap.add_argument("--total", default="2e10")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out: dict = {}
    if args.part in ("detect", "both"):
        out["detect"] = part_detect(args.trials, [int(x) for x in args.audits.split(",")])
        if not args.json:
            print(f"{'scenario':24} {'audits/chunk':>12} {'cost':>7} {'caught':>11} {'rate':>7} {'bound':>7}")
            for r in out["detect"]:
                print(f"{r['scenario']:24} {r['audits_per_chunk']:>12} {r['cost'] * 100:>6.2f}% "
                      f"{r['caught']:>5}/{r['trials']:<5} {r['rate']:>7.3f} {r['bound']:>7.3f}")
    if args.part == "tree":
        out["tree"] = t = part_tree()
        if not args.json:
            print(f"a 256-leaf tree: build {t['build_us']:.0f} us, check 5 paths {t['verify_5_paths_us']:.0f} us")
    if args.part == "adversary":
        s = int(args.audits.split(",")[0]) if args.audits != ap.get_default("audits") else DEFAULT_AUDITS
        out["adversary"] = part_adversary(args.trials, s)
        if not args.json:
            print(f"{'adversary':14} {'s':>2} {'runs':>5} {'wrong VERIFIED':>14} {'rate':>6} {'bound q':>7} "
                  f"{'sum q^n':>7} {'convicted':>9} {'commits':>7}")
            for r in out["adversary"]:
                print(f"{r['adversary']:14} {r['audits_per_chunk']:>2} {r['trials']:>5} {r['wrong_verified']:>14} "
                      f"{r['wrong_verified'] / r['trials']:>6.3f} {r['per_chunk_bound']:>7.3f} {r['bound']:>7.2f} "
                      f"{r['convicted']:>9} {r['mean_commitments']:>7}")
    if args.part in ("cost", "both"):
        total = parse_int(str(int(float(args.total))), "--total", lo=1)
        out["cost"] = c = part_cost(total, args.rounds)
        if not args.json:
            print(f"runner (1 process, all cores): {c['runner_s']:.3f} s, "
                  f"{human_rate(total / c['runner_s'])} colors/s")
            for k in ("audits_0", f"audits_{DEFAULT_AUDITS}"):
                print(f"mine --{k.replace('_', ' ')}: {c[k]['wall_s']:.3f} s wall, {c[k]['cpu_s']:.3f} s CPU, "
                      f"{human_rate(total / c[k]['wall_s'])} colors/s, recomputed {c[k]['audit_share'] * 100:.2f}%")
            print(f"audit overhead: CPU {c['overhead_cpu'] * 100:+.1f}%, wall {c['overhead_wall'] * 100:+.1f}%")
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
