"""`exo-gay nashprop`: zero-coordinator mining (exo_gay/nashprop/), one member per machine or
K members on this one (--local K)."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
import time

from ..cliutil import (
    EXIT_FAILED,
    EXIT_OK,
    SEED_HELP,
    add_cluster_argument,
    add_json,
    add_threads_and_backend,
    dump_json,
    examples,
    human_count,
    human_rate,
    parse_float,
    parse_int,
    parse_threads,
    progress,
    show_progress,
    status,
)
from ..errors import InputError, RunFailed
from ..extras import require
from ..spi import IHOR_SEED, MESH_PORT

log = logging.getLogger(__name__)

EXAMPLES = examples(
    "exo-gay nashprop --seed 7202985 --total 1e10 --local 3",
    "# (3 member processes here; every one checks the result)",
    "# across machines a key is required: one shared key, copied to each",
    "exo-gay keygen --shared --out run.key",
    "# on each of three machines, each with its own --me:",
    "exo-gay nashprop --seed 7202985 --total 1e12 --key-file run.key \\",
    "--members causality,hatchery,2-monad --me hatchery",
    "# wait (bounded by --wait) until 34 key holders found each other:",
    "exo-gay nashprop --seed 7202985 --total 1e12 --expect 34 --key-file run.key",
    "# Tailscale (no multicast): one member's address, zenoh finds the rest:",
    "exo-gay nashprop --seed 7202985 --total 1e12 --expect 3 --no-scout \\",
    "--key-file run.key --listen tcp/0.0.0.0:7447 --connect tcp/100.64.0.1:7447",
    "# key pairs: cluster.json lists each node's gay.public_key; -v logs events:",
    "exo-gay -v nashprop --total 1e12 --cluster cluster.json --me NODE_ID \\",
    "--key-file node.key",
    "# the node ids of a running exo's topology (its API) are the members:",
    "exo-gay nashprop --total 1e12 --exo-api http://127.0.0.1:52415 --me NODE_ID",
)


def register(sub) -> None:
    p = sub.add_parser("nashprop", help="zero-coordinator mining: every member derives its range, mines alone, "
                                        "and the fingerprints aggregate up a tree (no coordinator)",
                       description="Zero-coordinator mining: every member derives the same order and ranges "
                                   "from the seed and the member set, mines its range alone, and the signed "
                                   "fingerprints aggregate up a tree; every member prints the same verified "
                                   "XOR of [0, total). Run it on every machine, or --local K on one.",
                       epilog=EXAMPLES,
                       usage="%(prog)s [--seed SEED] [--total TOTAL] [--me NAME] [options]\n"
                             "         (--members A,B,C | --cluster CLUSTER.json | --exo-api URL | --expect K\n"
                             "          | --local K)")
    p.add_argument("--seed", default=str(IHOR_SEED), help=f"{SEED_HELP} (default {IHOR_SEED})")
    p.add_argument("--total", default="1e9", help="colors in all, [0, total), 1e9 form accepted (default 1e9)")
    # one of them is needed (checked in cmd_nashprop, so that a mistyped flag is named first)
    who = p.add_mutually_exclusive_group()
    who.add_argument("--members", metavar="A,B,C", help="comma list of member names (the member set is given)")
    add_cluster_argument(who, help="the member set: the node ids of a cluster file")
    who.add_argument("--exo-api", metavar="URL",
                     help="the member set: the node ids of the topology a running exo node's API answers "
                          "(GET URL/v1/topology, e.g. http://127.0.0.1:52415)")
    who.add_argument("--expect", metavar="K", help="wait (bounded by --wait) until K members are up; "
                                                  "all K must settle on the same set")
    who.add_argument("--local", metavar="K", help="start K members as processes on this machine and print "
                                                 "the result (the embedded mode)")
    p.add_argument("--me", metavar="NAME", help="this member's name (default: the host name); letters, digits, "
                                               "'.', '_', '-'")
    p.add_argument("--session", metavar="TOKEN", help="run token shared by the members (default 'default'); "
                                                     "runs with different tokens never see each other")
    p.add_argument("--fan-out", default="4", metavar="K", help="aggregation tree fan-out (default 4)")
    p.add_argument("--pieces", default="8", metavar="P", help="pieces per range: the takeover and audit grid "
                                                             "(default 8)")
    p.add_argument("--sync", default=None, type=float, metavar="S",
                   help="seconds between sync points (default 2; 0.5 with --local)")
    p.add_argument("--wait", default=30.0, type=float, metavar="S",
                   help="seconds to wait for the member set, then exit 1 (default 30)")
    p.add_argument("--timeout", default=600.0, type=float, metavar="S",
                   help="seconds before giving up on the whole run, exit 1 (default 600)")
    add_threads_and_backend(p)
    p.add_argument("--listen", action="append", metavar="EP",
                   help="zenoh endpoint to listen on, repeatable (default tcp/127.0.0.1:0; across machines "
                        "an address the others reach, e.g. tcp/0.0.0.0:7447)")
    p.add_argument("--connect", action="append", metavar="EP",
                   help="zenoh endpoint of another member, repeatable (where multicast does not pass, "
                        "e.g. Tailscale: tcp/100.x.y.z:7447)")
    p.add_argument("--no-scout", action="store_true",
                   help=f"no multicast scouting (default: on, UDP 224.0.0.224:{MESH_PORT})")
    p.add_argument("--scout-interface", default=None, metavar="IF",
                   help="interface for multicast scouting (default lo; with --key-file 'auto', the default one)")
    p.add_argument("--key-file", metavar="F",
                   help="a shared key (exo-gay keygen --shared), or this member's key pair (exo-gay keygen) "
                        "with --cluster listing every public key: only key holders can join; required off "
                        "loopback; with it the defaults listen on every interface and scout the default one")
    add_json(p)
    p.set_defaults(func=cmd_nashprop)


def _session(seed: int, total: int, token: str | None) -> str:
    tok = token or "default"
    if not tok.replace("-", "").replace("_", "").isalnum():
        raise InputError(f"--session {token!r}: letters, digits, '-' and '_' only")
    return f"{seed:x}-{total}-{tok}"


def _members_from(path: str) -> list[str]:
    """The node ids of an exo cluster file (manual discovery format), as the member set."""
    from .. import clusterfile

    return sorted(p.node_id for p in clusterfile.load(path).peers)


def cmd_nashprop(args) -> int:
    require("nashprop")
    from ..nashprop.transport import check_endpoint, check_name

    if (args.members is None and args.cluster is None and args.exo_api is None and args.expect is None
            and args.local is None):
        raise InputError("the member set is needed: --members A,B,C, --cluster CLUSTER.json, --exo-api URL, "
                         "--expect K or --local K")
    seed = parse_int(args.seed, "--seed")
    total = parse_int(args.total, "--total", lo=1, hi=1 << 64)
    k = parse_int(args.fan_out, "--fan-out", lo=2, hi=1024)
    pieces = parse_int(args.pieces, "--pieces", lo=1, hi=4096)
    if args.sync is None:
        args.sync = 0.5 if args.local is not None else 2.0
    sync = parse_float(args.sync, "--sync", 0.05, 3600)
    wait = parse_float(args.wait, "--wait", 0.1, 86400)
    timeout = parse_float(args.timeout, "--timeout", 0.1, 7 * 86400)
    threads = parse_threads(args.threads)
    for ep in (args.listen or []) + (args.connect or []):
        check_endpoint(ep)
    if args.me is not None:
        check_name(args.me, "--me")
    key = _key(args)
    if args.local is not None:
        n = parse_int(args.local, "--local", lo=1, hi=256)
        if total < n:
            raise InputError(f"--total {total} is less than --local {n} members")
        return _local(args, seed, total, n)
    me = check_name(args.me or socket.gethostname().split(".")[0], "--me")
    members = expect = None
    if args.members is not None or args.cluster is not None or args.exo_api is not None:
        if args.members is not None:
            members = [m.strip() for m in args.members.split(",")]
        elif args.cluster is not None:
            members = _members_from(args.cluster)
        else:
            from ..exotopology import fetch_node_ids

            members = fetch_node_ids(args.exo_api)
        for m in members:
            check_name(m)
        if len(set(members)) != len(members):
            raise InputError("--members: a member is named twice")
        if me not in members:
            raise InputError(f"--me {me!r} is not one of the members ({', '.join(members)})")
        if total < len(members):
            raise InputError(f"--total {total} is less than the {len(members)} members")
    else:
        expect = parse_int(args.expect, "--expect", lo=1, hi=1 << 20)
    from ..kernels import resolve
    from ..nashprop.run import Options

    resolve(args.backend, "xor")  # a backend that fails its self-check is bad input, before joining
    secret, trusted = _key_pair(key, args, me, members)
    if secret is not None:
        key = None
    default_listen = "tcp/0.0.0.0:0" if key or secret else "tcp/127.0.0.1:0"
    opt = Options(seed=seed, total=total, me=me, session=_session(seed, total, args.session), members=members,
                  expect=expect, k=k, pieces=pieces, sync=sync, wait=wait, timeout=timeout, threads=threads,
                  backend=args.backend, listen=args.listen or [default_listen], connect=args.connect or [],
                  scout=not args.no_scout, interface=args.scout_interface or ("auto" if key or secret else "lo"),
                  key=key, secret=secret, trusted=trusted)
    try:
        out = _run_member(opt, args.json)
    except RunFailed as e:
        if args.json:
            sys.stdout.write(dump_json({"verified": False, "me": me, "reason": str(e)}))
        raise RunFailed(f"{me}: {e}") from None
    if args.json:
        sys.stdout.write(dump_json(out))
    else:
        print(result_text(me, out["xor"], out["total"], out["n"], out["colors_per_second"],
                          f"{len(out['gone'])} gone, {len(out['excluded'])} excluded"
                          if out["gone"] or out["excluded"] else ""))
    return EXIT_OK


def _key(args) -> bytes | None:
    """The shared key, required when anything leaves loopback (an address other than loopback
    to listen on or connect to, or scouting on another interface)."""
    from ..nashprop.records import load_key

    if args.key_file is not None:
        key = load_key(args.key_file)
        if key.startswith(b"ed25519-secret:") and args.cluster is None:
            raise InputError("--key-file holds a key pair's secret: give --cluster with every member's "
                             "public key (gay.public_key), or use a shared key (exo-gay keygen --shared)")
        return key
    if args.local is not None:
        return None
    loopback = ("127.", "localhost", "[::1]")
    off = [ep for ep in (args.listen or []) + (args.connect or []) if not ep.split("/", 1)[1].startswith(loopback)]
    if not args.no_scout and args.scout_interface not in (None, "lo"):
        off.append(f"--scout-interface {args.scout_interface}")
    if off:
        raise InputError(f"{off[0]} leaves loopback: membership is closed off loopback, give --key-file F "
                         f"(exo-gay keygen --shared F, the same file on every member)")
    return None


def _key_pair(key: bytes | None, args, me: str, members: list[str] | None):
    """(seed, trusted public keys) when --key-file is a key pair's secret: every member needs its
    public key in the cluster file, and mine must be the secret's."""
    from ..nashprop.records import secret_seed

    seed = secret_seed(key, args.key_file) if key else None
    if seed is None:
        return None, None
    from nacl.signing import SigningKey

    from .. import clusterfile

    keys = clusterfile.load(args.cluster).public_keys()
    missing = [m for m in members or [] if m not in keys]
    if missing:
        raise InputError(f"--cluster {args.cluster}: no public key for {', '.join(missing)} (key pairs need "
                         f"every member's gay.public_key)")
    if bytes(SigningKey(seed).verify_key) != keys[me]:
        raise InputError(f"--key-file {args.key_file}: not the key pair of {me!r} in {args.cluster}")
    return seed, {m: keys[m].hex() for m in members}


def _run_member(opt, as_json: bool) -> dict:
    """One member, with a spinner while the member set settles, then a bar of the colors it
    mines; with EXO_GAY_NASHPROP_PROGRESS set (--local's members) progress lines on stderr."""
    from ..nashprop.run import Member

    shown = show_progress(as_json)
    lines = bool(os.environ.get("EXO_GAY_NASHPROP_PROGRESS"))
    with contextlib.ExitStack() as stack:
        stack.enter_context(status(f"{opt.me}: waiting for the member set", shown))
        bar = None

        def on_settled(names: list[str]) -> None:
            nonlocal bar
            stack.close()
            bar = stack.enter_context(progress(1, f"{opt.me} mining", shown))

        def on_progress(done: int, scheduled: int) -> None:
            if lines:
                sys.stderr.write(f"progress {done} {scheduled}\n")
                sys.stderr.flush()
            if bar is not None:
                bar.update_total(scheduled)
                bar.advance(done)
        return Member(opt, on_progress=on_progress, on_settled=on_settled).run()


def result_text(who: str, xor: str, total: int, n: int, rate: float | None, extra: str = "") -> str:
    """Two lines that fit 80 columns: the fingerprint, then what it covers."""
    rate_s = f"; {human_rate(rate)} colors/s" if rate else ""
    extra_s = f", {extra}" if extra else ""
    return (f"{who}: xor {xor} verified\n"
            f"  over [0, {human_count(total)}) by {n} member{'s' if n != 1 else ''}{extra_s}{rate_s}")


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _local(args, seed: int, total: int, n: int) -> int:
    """K members as processes on this machine, joined over explicit loopback endpoints."""
    from ..jsonfile import loads
    from ..runner import default_threads

    host = args.me or socket.gethostname().split(".")[0] or "local"
    names = [f"{host}-{i}" for i in range(n)]
    token = args.session or secrets.token_hex(6)
    ports = _free_ports(n)
    threads = args.threads or str(max(1, default_threads() // n))
    procs = []
    t0 = time.monotonic()
    for i, name in enumerate(names):
        cmd = [sys.executable, "-m", "exo_gay", "nashprop", "--seed", str(seed), "--total", str(total),
               "--members", ",".join(names), "--me", name, "--session", token, "--no-scout",
               "--listen", f"tcp/127.0.0.1:{ports[i]}", "--fan-out", args.fan_out, "--pieces", args.pieces,
               "--sync", str(args.sync), "--wait", str(args.wait), "--timeout", str(args.timeout),
               "--threads", threads, "--backend", args.backend, "--json"]
        for j in range(i):
            cmd += ["--connect", f"tcp/127.0.0.1:{ports[j]}"]
        if args.key_file:
            cmd += ["--key-file", args.key_file]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      env={**os.environ, "PYTHONUNBUFFERED": "1", "EXO_GAY_NASHPROP_PROGRESS": "1"}))
    results, failures = [], []
    done = [0] * n
    scheduled = [0] * n
    errs: list[list[str]] = [[] for _ in range(n)]

    def pump(i: int, f) -> None:  # a member's stderr: its progress lines, and the rest kept
        for line in f:
            if line.startswith("progress "):
                d, sch = line.split()[1:3]
                done[i] += int(d)
                scheduled[i] = int(sch)
            else:
                errs[i].append(line)
    pumps = [threading.Thread(target=pump, args=(i, pr.stderr), daemon=True) for i, pr in enumerate(procs)]
    for t in pumps:
        t.start()
    with progress(total, f"{n} local members", show_progress(args.json)) as bar:
        shown = 0
        while any(pr.poll() is None for pr in procs):
            now = sum(done)
            bar.update_total(max(total, sum(scheduled)))
            bar.advance(now - shown)
            shown = now
            time.sleep(0.2)
        for name, pr, t, e in zip(names, procs, pumps, errs, strict=True):
            out = pr.stdout.read()
            pr.wait()
            t.join(timeout=5)
            err = "".join(e)
            try:
                doc = loads(out, f"member {name}")
            except InputError:
                doc = {"verified": False, "reason": (err.strip().splitlines() or ["no output"])[-1]}
            if pr.returncode != 0 or not doc.get("verified"):
                failures.append(f"{name}: {doc.get('reason') or err.strip()[-200:]}")
            results.append(doc)
    wall = time.monotonic() - t0
    xors = {d.get("xor") for d in results if d.get("verified")}
    ok = not failures and len(xors) == 1
    report = {"xor": xors.pop() if ok else None, "verified": ok, "members": names, "total": total, "seed": seed,
              # the slowest member's view: the whole of [0, total) over its time to the verified result
              "colors_per_second": min((d.get("colors_per_second") or 0) for d in results) if ok else None,
              "wall_s": round(wall, 3), "failures": failures}
    if args.json:
        sys.stdout.write(dump_json(report))
    elif ok:
        print(result_text(f"{n} local members agree", report["xor"], total, n, report["colors_per_second"],
                          f"{wall:.1f} s with start-up"))
    for f in failures:
        log.error("%s", f)
    return EXIT_OK if ok else EXIT_FAILED
