"""Lying and hostile NashProp members, written from the wire format in docs/nashprop.md (zenoh
and PyNaCl directly; nothing from exo_gay.nashprop), and `ref_xor`, the numpy reference the tests
compare to.

  python tests/nashprop_adversary.py --mode lie|lie-sum|honest|outsider --seed S --total N \
      --members a,b,c --me NAME --session TOKEN --listen EP [--connect EP ...] [--pieces P]
      [--fan-out K] [--sync S] [--key-file F] [--forge-final] [--inject-own] [--forge-sig]
      [--reclaim NAME] [--flood BYTES:PER_SECOND]

lie: commits to leaf values XORed with 1 (a consistent Merkle tree of wrong values), answers
audits from that lie, and sends a summary consistent with it. lie-sum: honest records and audit
answers, but its summary and the part it claims for its own range XORed with 1. honest: a member
that follows the protocol as a leaf (so the run can finish) while it attacks. outsider: no
range, attacks only. Attacks, every sync: --forge-final sends every member a Final with a wrong
XOR, signed by itself as the acting root, with a one-link chain that adds up; --inject-own an
Own with a wrong XOR for every other position; --forge-sig an envelope in another member's
name (on its sender key) with a bad signature, carrying a Final and records; --reclaim NAME
waits until NAME's token is gone, then declares a token for NAME with a new key and sends a
Final and Owns signed with it; --flood B:R puts R messages of B random bytes per second on every
member's inbox, under every member's name and its own. It prints one JSON line,
{"named_by": WHO}, when an accusation names it, and runs until it is terminated.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import signal
import struct
import threading
import time

import numpy as np
import zenoh
from nacl.signing import SigningKey

from exo_gay.spi import MASK64, fnv1a, mix

LEAVES = 32
SUMMARY = struct.Struct(">BQQQQQQB")
FINAL = struct.Struct(">BQQQQQQ")
OWN = struct.Struct(">BQQ")


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


def load_shared_key(path: str) -> bytes:
    data = open(path, "rb").read().strip()
    try:
        return bytes.fromhex(data.decode("ascii"))
    except ValueError:
        return data


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=("lie", "lie-sum", "honest", "outsider"), required=True)
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
    ap.add_argument("--key-file")
    ap.add_argument("--forge-final", action="store_true")
    ap.add_argument("--inject-own", action="store_true")
    ap.add_argument("--forge-sig", action="store_true")
    ap.add_argument("--reclaim")
    ap.add_argument("--flood")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    session = f"{a.seed:x}-{a.total}-{a.session}"
    root = f"exo-gay/nashprop/{session}"
    shared = load_shared_key(a.key_file) if a.key_file else None
    key = SigningKey.generate()
    names = a.members.split(",")
    order = sorted(names, key=lambda h: (mix((a.seed ^ fnv1a(h)) & MASK64), h))
    n = len(order)
    member = a.mode != "outsider"
    pos = order.index(a.me) if member else 0
    base = a.total // n
    start = pos * base
    count = (a.total if pos == n - 1 else start + base) - start
    end, parent = tree_end_and_parent(n, a.fan_out)

    def token(name: str, k: SigningKey) -> str:
        pub = k.verify_key.encode().hex()
        if shared is None:
            return f"{root}/m/{name}/{pub}"
        mac = hmac.new(shared, f"nashprop-member\0{session}\0{name}\0{pub}".encode(), hashlib.sha256)
        return f"{root}/m/{name}/{pub}/{mac.digest()[:16].hex()}"

    # mine: each piece's 32 leaves with the reference; "lie" commits to every leaf XORed with 1
    ctx = b"nashprop\0" + session.encode() + b"\0" + a.me.encode()
    trees, records, own = {}, [], 0
    for j, (ps, pc) in enumerate(split(start, count, a.pieces) if member else []):
        leaves = split(ps, pc, LEAVES)
        values = [ref_xor(a.seed, la, lc) ^ (1 if a.mode == "lie" else 0) for la, lc in leaves]
        levels = merkle(ctx, leaves, values)
        trees[(pos, j)] = levels
        digest, x = levels[-1][0]
        own ^= x
        records.append({"miner": a.me, "of": pos, "j": j, "start": ps, "count": pc, "n_leaves": len(leaves),
                        "xor": f"{x:016x}", "root": digest.hex()})

    def seal(body: dict, k: SigningKey = key) -> bytes:
        data = canonical(body)
        return canonical({"body": data.decode(), "sig": k.sign(data).signature.hex()})

    def sign_tag(tag: str, data: bytes, k: SigningKey = key) -> str:
        return k.sign(f"nashprop-{tag}\0{session}\0".encode() + data).signature.hex()

    def forged_final(as_pos: int, k: SigningKey, signer: str) -> dict:
        """A Final of a wrong XOR 'by' position as_pos, with a whole-tree summary that adds up."""
        fake = int.from_bytes(os.urandom(8), "big")
        data = FINAL.pack(2, fake, a.total, n, 0, 0, as_pos)
        sdata = SUMMARY.pack(1, 0, n, 0, a.total, fake, 0, 0)
        owns = [[p, f"{(fake if p == as_pos else 0):016x}"] for p in range(n)]
        link = {"from": signer, "data": sdata.hex(), "sig": sign_tag("summary", sdata, k), "own": owns, "subs": []}
        return {"data": data.hex(), "sig": sign_tag("final", data, k), "chain": [link]}

    def injected_owns() -> list[str]:
        return [OWN.pack(3, v, int.from_bytes(os.urandom(8), "big")).hex() for v in range(n) if v != pos or not member]

    def on_audit(query) -> None:
        q = json.loads(query.payload.to_bytes())
        levels = trees.get((q["of"], q["j"]))
        if levels is not None:
            out = [{"k": k, "value": f"{levels[0][k][1]:016x}",
                    "path": [[d.hex(), f"{v:016x}"] for d, v in path(levels, k)]} for k in q["leaves"]]
            query.reply(f"{root}/audit/{a.me}", canonical({"leaves": out}))

    named = threading.Event()

    def on_accuse(sample) -> None:
        try:
            body = json.loads(json.loads(sample.payload.to_bytes())["body"])
        except (ValueError, KeyError, TypeError):
            return
        if body.get("accused") == a.me and not named.is_set():
            named.set()
            print(json.dumps({"named_by": body.get("from")}), flush=True)

    up: set[str] = set()

    def on_member(sample) -> None:
        name = str(sample.key_expr).split("/")[len(root.split("/")) + 1]
        (up.add if sample.kind == zenoh.SampleKind.PUT else up.discard)(name)

    cfg = zenoh.Config()
    cfg.insert_json5("mode", '"peer"')
    cfg.insert_json5("listen/endpoints", json.dumps([a.listen]))
    cfg.insert_json5("connect/endpoints", json.dumps(a.connect))
    cfg.insert_json5("scouting/multicast/enabled", "false")
    if shared is not None:  # zenoh's usrpwd, as the wire format gives it
        password = hmac.new(shared, f"nashprop-zenoh\0{session}".encode(), hashlib.sha256).digest()[:16].hex()
        dictionary = f"/tmp/nashprop-adversary-{os.getpid()}.auth"
        with open(dictionary, "w") as f:
            f.write(f"exo-gay:{password}\n")
        cfg.insert_json5("transport/auth/usrpwd/user", '"exo-gay"')
        cfg.insert_json5("transport/auth/usrpwd/password", json.dumps(password))
        cfg.insert_json5("transport/auth/usrpwd/dictionary_file", json.dumps(dictionary))
    z = zenoh.open(cfg)
    _keep = [z.declare_queryable(f"{root}/audit/{a.me}", on_audit),
             z.declare_subscriber(f"{root}/accuse/*", on_accuse),
             z.liveliness().declare_subscriber(f"{root}/m/**", on_member, history=True),
             z.liveliness().declare_token(token(a.me, key))]
    others = [m for m in names if m != a.me]
    while not set(others) <= up:
        time.sleep(0.05)
    if a.flood:
        size, rate = (int(x) for x in a.flood.split(":"))
        junk = os.urandom(size)

        def flood() -> None:
            senders = [a.me, *others]
            i = 0
            while True:
                for dst in others:  # under each name in turn, its own and the members'
                    z.put(f"{root}/to/{dst}/{senders[i % len(senders)]}", junk)
                z.put(f"{root}/accuse/{senders[i % len(senders)]}", junk)
                i += 1
                time.sleep(1 / rate)
        threading.Thread(target=flood, daemon=True).start()

    # one envelope per sync: my records, and (a leaf of the tree) my summary with its one part
    body = {"from": a.me, "records": records, "agg": []}
    if member and parent[pos] >= 0 and end[pos] == pos + 1:
        x = own ^ (1 if a.mode == "lie-sum" else 0)
        data = SUMMARY.pack(1, pos, pos + 1, start, count, x, 0, 0)
        body["sum"] = {"data": data.hex(), "sig": sign_tag("summary", data), "own": [[pos, f"{x:016x}"]], "subs": []}
    to = ([parent[pos]] if parent[pos] >= 0 else [c for c in range(1, n) if parent[c] == 0]) if member else []
    reclaimed: SigningKey | None = None
    while True:
        for dst in to:
            z.put(f"{root}/to/{order[dst]}/{a.me}", seal(body))
        for dst in others:
            if a.forge_final or a.inject_own:
                attack = {"from": a.me, "records": [], "agg": injected_owns() if a.inject_own else []}
                if a.forge_final:
                    attack["final"] = forged_final(pos, key, a.me)
                z.put(f"{root}/to/{dst}/{a.me}", seal(attack))
                if a.forge_final:  # and one that names the acting root's position, signed by me
                    attack["final"] = forged_final(0, key, a.me)
                    z.put(f"{root}/to/{dst}/{a.me}", seal(attack))
            if a.forge_sig:
                victim = next(m for m in names if m not in (dst, a.me))
                fake = {"from": victim, "records": records, "agg": injected_owns(),
                        "final": forged_final(order.index(victim), key, victim)}
                env = canonical({"body": canonical(fake).decode(), "sig": os.urandom(64).hex()})
                z.put(f"{root}/to/{dst}/{victim}", env)
            if reclaimed is not None:
                v = order.index(a.reclaim)
                fake = {"from": a.reclaim, "records": [], "agg": injected_owns(),
                        "final": forged_final(v, reclaimed, a.reclaim)}
                z.put(f"{root}/to/{dst}/{a.reclaim}", seal(fake, reclaimed))
        if a.reclaim and reclaimed is None and a.reclaim not in up:
            reclaimed = SigningKey.generate()
            _keep.append(z.liveliness().declare_token(token(a.reclaim, reclaimed)))
            print(json.dumps({"reclaimed": a.reclaim}), flush=True)
        time.sleep(a.sync)


if __name__ == "__main__":
    raise SystemExit(main())
