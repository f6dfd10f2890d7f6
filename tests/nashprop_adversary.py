"""A lying NashProp member, written from the wire format in docs/nashprop.md (zenoh and PyNaCl
directly; nothing from exo_gay.nashprop), and `ref_xor`, the numpy reference the tests compare to.

  python tests/nashprop_adversary.py --mode lie|lie-sum --seed S --total N --members a,b,c \
      --me NAME --session TOKEN --listen EP [--connect EP ...] [--pieces P] [--fan-out K] [--sync S]

lie: commits to leaf values XORed with 1 (a consistent Merkle tree of wrong values), answers
audits from that lie, and sends a summary consistent with it. lie-sum: honest records and audit
answers, but its summary and the part it claims for its own range XORed with 1. It prints one
JSON line, {"named_by": WHO}, when an accusation names it, and runs until it is terminated.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import signal
import struct
import sys
import threading
import time

import numpy as np
import zenoh
from nacl.signing import SigningKey

from exo_gay.spi import MASK64, fnv1a, mix

LEAVES = 32
SUMMARY = struct.Struct(">BQQQQQQB")


def ref_xor(seed: int, start: int, count: int) -> int:
    """XOR of color_at(seed, i) = mix(seed + i*GOLDEN) over [start, start+count), SplitMix64's mix."""
    g, m1, m2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
    acc = 0
    for a in range(start, start + count, 1 << 22):
        with np.errstate(over="ignore"):
            i = np.arange(a, min(start + count, a + (1 << 22)), dtype=np.uint64)
            z = np.uint64(seed) + i * g + g
            z = (z ^ (z >> np.uint64(30))) * m1
            z = (z ^ (z >> np.uint64(27))) * m2
            z = z ^ (z >> np.uint64(31))
        acc ^= int(np.bitwise_xor.reduce(z))
    return acc


def split(start: int, count: int, parts: int) -> list[tuple[int, int]]:
    """min(parts, count) contiguous parts, the first ones one longer."""
    q, r = divmod(count, min(parts, count))
    return [(start + i * q + min(i, r), q + (i < r)) for i in range(min(parts, count))]


def tree_end_and_parent(n: int, k: int) -> tuple[list[int], list[int]]:
    """The pre-order k-ary tree: node p's subtree is [p, end[p]); its children split the rest."""
    end, parent = [0] * n, [-1] * n
    stack = [(0, n, -1)]
    while stack:
        lo, hi, par = stack.pop()
        end[lo], parent[lo] = hi, par
        rest, a = hi - lo - 1, lo + 1
        if rest > 0:
            q, r = divmod(rest, min(k, rest))
            for i in range(min(k, rest)):
                c = q + (1 if i < r else 0)
                stack.append((a, a + c, lo))
                a += c
    return end, parent


def merkle(ctx: bytes, ranges: list[tuple[int, int]], values: list[int]) -> list[list[tuple[bytes, int]]]:
    """Every level, leaves first, of (digest, xor); an odd last node goes up unchanged."""
    level = [(hashlib.sha256(b"exo-gay/leaf\0" + ctx + a.to_bytes(16, "big") + c.to_bytes(16, "big")
                             + v.to_bytes(8, "big")).digest(), v) for (a, c), v in zip(ranges, values, strict=True)]
    levels = [level]
    while len(level) > 1:
        # a node binds both children's digests and both XOR labels (docs/proof.md, issue 24)
        nxt = [(hashlib.sha256(b"exo-gay/node2\0" + level[i][0] + level[i][1].to_bytes(8, "big")
                               + level[i + 1][0] + level[i + 1][1].to_bytes(8, "big")).digest(),
                level[i][1] ^ level[i + 1][1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        levels.append(level := nxt)
    return levels


def path(levels: list[list[tuple[bytes, int]]], k: int) -> list[tuple[bytes, int]]:
    out = []
    for level in levels[:-1]:
        if not (k % 2 == 0 and k == len(level) - 1):
            out.append(level[k ^ 1])
        k //= 2
    return out


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=("lie", "lie-sum"), required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--total", type=int, required=True)
    ap.add_argument("--members", required=True)
    ap.add_argument("--me", required=True)
    ap.add_argument("--session", required=True)
    ap.add_argument("--listen", required=True)
    ap.add_argument("--connect", action="append", default=[])
    ap.add_argument("--pieces", type=int, default=8)
    ap.add_argument("--fan-out", type=int, default=4)
    ap.add_argument("--sync", type=float, default=0.3)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    session = f"{a.seed:x}-{a.total}-{a.session}"
    root = f"exo-gay/nashprop/{session}"
    key = SigningKey.generate()
    names = a.members.split(",")
    order = sorted(names, key=lambda h: (mix((a.seed ^ fnv1a(h)) & MASK64), h))
    n, pos = len(order), order.index(a.me)
    base = a.total // n
    start = pos * base
    count = (a.total if pos == n - 1 else start + base) - start
    end, parent = tree_end_and_parent(n, a.fan_out)

    # mine: each piece's 32 leaves with the reference; "lie" commits to every leaf XORed with 1
    ctx = b"nashprop\0" + session.encode() + b"\0" + a.me.encode()
    trees, records, own = {}, [], 0
    for j, (ps, pc) in enumerate(split(start, count, a.pieces)):
        leaves = split(ps, pc, LEAVES)
        values = [ref_xor(a.seed, la, lc) ^ (1 if a.mode == "lie" else 0) for la, lc in leaves]
        levels = merkle(ctx, leaves, values)
        trees[(pos, j)] = levels
        digest, x = levels[-1][0]
        own ^= x
        records.append({"miner": a.me, "of": pos, "j": j, "start": ps, "count": pc, "n_leaves": len(leaves),
                        "xor": f"{x:016x}", "root": digest.hex()})

    def seal(body: dict) -> bytes:
        data = canonical(body)
        return canonical({"body": data.decode(), "sig": key.sign(data).signature.hex()})

    def on_audit(query) -> None:
        q = json.loads(query.payload.to_bytes())
        levels = trees.get((q["of"], q["j"]))
        if levels is not None:
            out = [{"k": k, "value": f"{levels[0][k][1]:016x}",
                    "path": [[d.hex(), f"{v:016x}"] for d, v in path(levels, k)]} for k in q["leaves"]]
            query.reply(f"{root}/audit/{a.me}", canonical({"leaves": out}))

    named = threading.Event()

    def on_accuse(sample) -> None:
        body = json.loads(json.loads(sample.payload.to_bytes())["body"])
        if body.get("accused") == a.me and not named.is_set():
            named.set()
            print(json.dumps({"named_by": body.get("from")}), flush=True)

    up: set[str] = set()

    def on_member(sample) -> None:
        name = str(sample.key_expr).split("/")[-2]
        (up.add if sample.kind == zenoh.SampleKind.PUT else up.discard)(name)

    cfg = zenoh.Config()
    cfg.insert_json5("mode", '"peer"')
    cfg.insert_json5("listen/endpoints", json.dumps([a.listen]))
    cfg.insert_json5("connect/endpoints", json.dumps(a.connect))
    cfg.insert_json5("scouting/multicast/enabled", "false")
    z = zenoh.open(cfg)
    _keep = [z.declare_queryable(f"{root}/audit/{a.me}", on_audit),
            z.declare_subscriber(f"{root}/accuse", on_accuse),
            z.liveliness().declare_subscriber(f"{root}/m/*/*", on_member, history=True),
            z.liveliness().declare_token(f"{root}/m/{a.me}/{key.verify_key.encode().hex()}")]
    while not set(names) <= up:
        time.sleep(0.05)

    # one envelope per sync: my records, and (a leaf of the tree) my summary with its one part
    body = {"from": a.me, "records": records, "agg": []}
    if parent[pos] >= 0 and end[pos] == pos + 1:
        x = own ^ (1 if a.mode == "lie-sum" else 0)
        data = SUMMARY.pack(1, pos, pos + 1, start, count, x, 0, 0)
        sig = key.sign(b"nashprop-summary\0" + session.encode() + b"\0" + data).signature.hex()
        body["sum"] = {"data": data.hex(), "sig": sig, "own": [[pos, f"{x:016x}"]], "subs": []}
    to = [parent[pos]] if parent[pos] >= 0 else [c for c in range(1, n) if parent[c] == 0]
    while True:
        for dst in to:
            z.put(f"{root}/to/{order[dst]}", seal(body))
        time.sleep(a.sync)


if __name__ == "__main__":
    raise SystemExit(main())
