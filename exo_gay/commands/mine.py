"""`exo-gay serve` (a miner), `exo-gay mine` (the coordinator) and `exo-gay keygen`: exo_gay/mesh/."""

from __future__ import annotations

import contextlib
import re
import textwrap
from typing import Any

from ..cliutil import (
    EXIT_FAILED,
    EXIT_OK,
    add_cluster_argument,
    add_json,
    add_threads_and_backend,
    check_output,
    dump_json,
    examples,
    human_count,
    human_rate,
    parse_float,
    parse_int,
    parse_threads,
    print_json,
    print_table,
    progress,
    show_progress,
)
from ..clusterfile import RESERVED_NAME
from ..errors import InputError
from ..extras import require
from ..jsonfile import atomic_write
from ..spi import MESH_PORT


def register(sub) -> None:
    p = sub.add_parser("serve", help="run a miner (gRPC) that mines ranges for a coordinator",
                       description="Run a miner: it mines the chunks a coordinator (exo-gay mine) sends, commits "
                                   "to each with a Merkle root, and answers the audits. Runs until stopped.",
                       epilog=examples(f"exo-gay serve --node-id causality --port {MESH_PORT} --threads 1",
                                       "# every message authenticated with a shared key (made first):",
                                       "exo-gay keygen --shared --out cluster.key",
                                       "exo-gay serve --node-id hatchery --port 0 --key-file cluster.key",
                                       "# a key pair per node and a cluster file of public keys: docs/proof.md"))
    p.add_argument("--node-id", required=True, help="this miner's name (a bundle host or an exo node id)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", default=str(MESH_PORT),
                   help=f"port to listen on, 1..65535, or 0 for any free one (default {MESH_PORT})")
    p.add_argument("--key-file", metavar="KEY",
                   help="a shared key, or this node's secret key (both from exo-gay keygen): "
                        "authenticate every message (default: none)")
    add_cluster_argument(p, help="cluster file naming the public keys of who may send work "
                                 "(needed with a secret key)")
    p.add_argument("--max-open-work", default=None, metavar="N",
                   help="colors per call accepted without a key (default 2^36; 1e9 form accepted)")
    add_threads_and_backend(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("mine", help="mine a bundle on miners over gRPC, audit every answer, prove the result",
                       description="Mine a bundle's ranges on miners (local ones by default, or exo-gay serve "
                                   "processes named in a cluster file), audit every answer, and print the "
                                   "combined fingerprint with what the audits prove.",
                       epilog=examples("exo-gay mine --bundle configs/bundle.example.json",
                                       "# resumable (run it again after a kill), more audits, a JSON report:",
                                       "exo-gay mine --bundle configs/bundle.example.json --journal run.journal \\",
                                       "--audits 13 --json",
                                       "# miners started first, each in a terminal of its own, named in a",
                                       "# cluster file:",
                                       f"exo-gay serve --node-id causality --port {MESH_PORT}",
                                       f"exo-gay serve --node-id hatchery --port {MESH_PORT + 1}",
                                       f"exo-gay serve --node-id 2-monad --port {MESH_PORT + 2}",
                                       "exo-gay mine --bundle configs/bundle.example.json \\",
                                       "--cluster configs/cluster.loopback.json --out report.json"))
    p.add_argument("--bundle", required=True, metavar="BUNDLE.json",
                   help="the bundle (see exo-gay bundle make); - reads standard input")
    add_cluster_argument(p, help="the miners, in exo's manual-discovery format; every bundle host must be one "
                                 "(default: one local miner per bundle host on 127.0.0.1)")
    p.add_argument("--key-file", metavar="KEY",
                   help="a shared key, or this coordinator's secret key (exo-gay keygen) (default: none)")
    add_json(p, help="print the report as JSON on stdout (no progress bar)")
    p.add_argument("--out", metavar="FILE", help="also write the JSON report here (whole or not at all)")
    p.add_argument("--journal", metavar="FILE",
                   help="append accepted chunks here; run again with the same file to resume")
    p.add_argument("--audits", default="5", metavar="0..256",
                   help="leaves of 256 per chunk recomputed here after the miner's commitment "
                        "(default 5: 1.95%% of the work)")
    p.add_argument("--replicas", default="1", metavar="R",
                   help="distinct miners per chunk, 1..the number of miners; any disagreement is recomputed "
                        "here (default 1)")
    p.add_argument("--chunk-size", default=None, metavar="N",
                   help="colors per chunk (default: the bundle's, else about 1/16 of a host's range)")
    p.add_argument("--chunk-deadline", default=None, type=float, metavar="SECONDS",
                   help="seconds a miner gets per chunk, in (0, 86400] (default: from this machine's "
                        "measured rate)")
    p.add_argument("--wait-peers", default="30", metavar="SECONDS",
                   help="seconds to wait for peers still starting, 0..3600 (default 30)")
    p.add_argument("--threads", default=None, metavar="N",
                   help="threads per local miner, without --cluster (default: cores / hosts)")
    p.set_defaults(func=cmd_mine)

    p = sub.add_parser("keygen", help="write a new key file (mode 0600): a node's key pair, or a shared key",
                       description="Write a new secret key file (mode 0600, never over an existing file): an "
                                   "Ed25519 key pair for one node (its public key is printed, for the cluster "
                                   "file), or with --shared one HMAC key for the whole cluster.",
                       epilog=examples("exo-gay keygen --out a.key",
                                       "# (a key pair for node a: prints the public key for the cluster file)",
                                       "# one shared key for the whole cluster:",
                                       "exo-gay keygen --shared --out cluster.key"))
    p.add_argument("--out", required=True, metavar="FILE", help="the secret key file to write (never overwritten)")
    p.add_argument("--shared", action="store_true", help="a shared HMAC key for the whole cluster instead")
    p.set_defaults(func=cmd_keygen)


def _auth(key_file: str | None, peers_file: str | None, name: str) -> tuple[Any, Any]:
    """(authenticator or None, parsed cluster file or None).  ``name``: a miner's node id, or ""
    for the coordinator (found by its public key among the cluster file's coordinators)."""
    from .. import clusterfile
    from ..mesh.auth import Ed25519Auth, load_authenticator

    cf = clusterfile.load(peers_file) if peers_file else None
    if key_file is None:
        return None, cf
    auth = load_authenticator(key_file, name, cf.public_keys() if cf else {},
                              frozenset(cf.coordinators) if cf else frozenset())
    if isinstance(auth, Ed25519Auth):
        if cf is None:
            raise InputError("a secret key needs --cluster: the cluster file naming every node's public key")
        if name:  # a miner: its key is its peer entry's; work comes only from gay.coordinators
            if cf.public_keys().get(name, auth.public_key) != auth.public_key:
                raise InputError(f"the cluster file names another public key for {name!r}")
            if not cf.coordinators:
                raise InputError("the cluster file names no coordinator (gay.coordinators): "
                                 "nobody could send this miner work")
        else:
            mine = [n for n, pub in cf.coordinators.items() if pub == auth.public_key]
            if len(mine) != 1:
                raise InputError("this secret key is not one of the cluster file's coordinators "
                                 "(add its public key under gay.coordinators)")
            auth = auth.named(mine[0])
    elif not name:
        auth = auth.named("coordinator")
    return auth, cf


def _quiet_grpc() -> None:
    """gRPC's C core logs every GOAWAY at INFO when a channel or server closes: noise on a
    terminal.  Only a default (GRPC_VERBOSITY set by the user wins), set by the commands
    before gRPC is first imported, never by importing a module."""
    import os

    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def cmd_serve(args) -> int:
    import asyncio

    require("mine")
    _quiet_grpc()

    from ..mesh.service import MAX_OPEN_WORK, serve

    port = parse_int(args.port, "--port", hi=65535)
    threads = parse_threads(args.threads)
    max_open = MAX_OPEN_WORK if args.max_open_work is None else parse_int(args.max_open_work, "--max-open-work", lo=1)
    if not args.node_id.strip() or args.node_id != args.node_id.strip():
        raise InputError("--node-id: empty or padded with spaces")
    if args.node_id == RESERVED_NAME:
        raise InputError(f"--node-id: {RESERVED_NAME!r} is reserved (the coordinator's own results)")
    auth, _ = _auth(args.key_file, args.cluster, args.node_id)

    def listening(bound: int, servicer: Any) -> None:
        print(f"listening {args.host}:{bound} node={args.node_id} threads={servicer.threads} "
              f"backend={servicer.backend.name} auth={auth.mode if auth else 'none'}", flush=True)

    asyncio.run(serve(args.node_id, args.host, port, key=auth, threads=threads, backend=args.backend,
                      on_listening=listening, max_open_work=max_open))
    return EXIT_OK


def cmd_mine(args) -> int:
    import asyncio

    _quiet_grpc()

    require("mine")
    from ..bundle import load_bundle
    from ..mesh.coordinator import check_setup, mine_bundle
    from ..mesh.peers import peers_of

    bundle = load_bundle(args.bundle)
    audits = parse_int(args.audits, "--audits", hi=256)
    replicas = parse_int(args.replicas, "--replicas", lo=1, hi=1 << 10)
    chunk = None if args.chunk_size is None else parse_int(args.chunk_size, "--chunk-size", lo=1)
    wait = parse_int(args.wait_peers, "--wait-peers", hi=3600)
    threads = parse_threads(args.threads)
    deadline = (None if args.chunk_deadline is None
                else parse_float(args.chunk_deadline, "--chunk-deadline", 0, 86400, above_lo=True))
    inputs = {"--bundle": args.bundle, "--cluster": args.cluster, "--key-file": args.key_file}
    check_output(args.journal, "--journal", inputs=inputs, example="mine.journal")
    if args.journal:
        from ..mesh.journal import seal_path

        inputs.update({"--journal": args.journal, "the journal's seal": seal_path(args.journal)})
    check_output(args.out, "--out", inputs=inputs, example="report.json")
    # refuse everything refusable before a miner starts or a journal is created
    auth, cf = _auth(args.key_file, args.cluster, "" if args.cluster else "coordinator")
    peers = peers_of(cf) if cf else None
    setup = check_setup(bundle, [p.node_id for p in peers] if peers else bundle.hosts, replicas, audits, chunk,
                        args.journal)

    with contextlib.ExitStack() as stack:
        bar: list[Any] = []  # made when mining starts: no frozen bar while waiting for peers
        seen = [0]

        def on_progress(done: int) -> None:
            if not bar:
                bar.append(stack.enter_context(progress(bundle.total, "mine", show_progress(args.json))))
            bar[0].advance(done - seen[0])
            seen[0] = done

        report = asyncio.run(mine_bundle(bundle, peers, miner_threads=threads, auth=auth, audits=audits,
                                         replicas=replicas, journal_path=args.journal, chunk_size=chunk,
                                         chunk_deadline=deadline, on_progress=on_progress,
                                         setup=setup, wait_peers_s=wait))
    out = report.to_json()
    if args.json:
        print_json(out)
    else:
        print_report(out)
    if args.out:  # after the report: a run whose --out cannot be written still shows its result
        try:
            atomic_write(args.out, dump_json(out))
        except OSError as e:
            raise InputError(f"--out {args.out}: cannot write the report ({e.strerror or e}); "
                             f"the report is above{' and the journal kept' if args.journal else ''}") from None
    return EXIT_OK if report.verified else EXIT_FAILED


def cmd_keygen(args) -> int:
    if not args.shared:  # a shared key is random bytes; a key pair needs PyNaCl
        require("mine", "nacl")
    from ..mesh.auth import keygen

    check_output(args.out, "--out", replace=False, example="node.key")
    public = keygen(args.out, shared=args.shared)
    if public:
        print(f"wrote the secret key {args.out} (mode 0600); its public key, for the cluster file's "
              f"\"gay\": {{\"public_key\": ...}}:")
        print(public)
    else:
        print(f"wrote the shared key {args.out} (mode 0600): copy it to every node, pass it with --key-file")
    return EXIT_OK


def _say(text: str) -> None:
    """A report line, folded at 80 columns (continuations indented)."""
    print(textwrap.fill(text, width=80, subsequent_indent="  ", break_on_hyphens=False, break_long_words=False))


_SHORT = ((r"Connection refused", "connection refused"), (r"DEADLINE_EXCEEDED", "no answer in time"),
          (r"Name or service not known|DNS resolution failed", "unknown host"),
          (r"UNAUTHENTICATED", "refused our key, or we refused its"), (r"UNAVAILABLE", "unreachable"))


def short_reason(reason: str, width: int = 44) -> str:
    """A miner's failure in a few words for the table (the JSON report has it whole)."""
    for pattern, text in _SHORT:
        if re.search(pattern, reason):
            return text
    return reason if len(reason) <= width else reason[:width - 3] + "..."


def _nothing_mined(r: dict) -> bool:
    return not r["combined"] and not any(m["chunks"] for m in r["miners"]) and not r["resumed_colors"]


def _print_unreached(r: dict) -> None:
    """Nobody mined anything: who was called where, and why it failed, in 80 columns."""
    _say(f"nothing mined: no miner answered ({len(r['miners'])} tried)")
    width = max(len(m["node_id"]) for m in r["miners"])
    for m in r["miners"][:12]:
        where = m["address"] or "(channel)"
        print(f"  {m['node_id'][:24]:<{min(width, 24)}}  {where[:28]}  {short_reason(m['reason'], 24)}"[:80])
    if len(r["miners"]) > 12:
        print(f"  ... and {len(r['miners']) - 12} more")
    first = r["miners"][0]
    port = (first["address"] or "").rsplit(":", 1)[-1]
    if any("Connection refused" in m["reason"] or "UNAVAILABLE" in m["reason"] for m in r["miners"]):
        _say(f"start each miner first, e.g. exo-gay serve --node-id {first['node_id']}"
             + (f" --port {port}" if port.isdigit() else "") + " &")
    _say("NOT VERIFIED")


def print_report(r: dict) -> None:
    def rate(x: float | None) -> str:
        return human_rate(x) if x else "-"

    def reason(row: dict) -> str:
        return f" ({short_reason(row['reason'])})" if row["reason"] else ""

    if _nothing_mined(r) and r["miners"]:
        _print_unreached(r)
        return
    rows = []
    for h in r["hosts"]:
        status = h["status"] + reason(h)
        if h["mined_by_others"]:
            status += f"; {human_count(h['mined_by_others'])} mined by others"
        rows.append([h["host"], f"[{h['start']}, {h['start'] + h['count']})", human_count(h["count"]),
                     rate(h["colors_per_second"]), h["fingerprint"] or "-", status])
    print_table(["host", "range", "count", "colors/s", "fingerprint", "status"], rows,
                f"bundle {r['bundle_hash'][:12]}  seed {r['seed']}  game {r['game']}",
                right=("count", "colors/s"), keep_whole=("host", "count", "fingerprint"))
    hosts = {h["host"] for h in r["hosts"]}
    helpers = [m for m in r["miners"] if m["node_id"] not in hosts]
    if helpers:
        print_table(["miner", "chunks", "colors", "colors/s", "status"],
                    [[m["node_id"], str(m["chunks"]), human_count(m["colors"]), rate(m["colors_per_second"]),
                      m["status"] + reason(m)] for m in helpers], "helpers",
                    right=("chunks", "colors", "colors/s"), keep_whole=("miner",))
    c = r["combined"]
    value = (c["xor"] if r["game"] == "xor" else c["value"]) if c else "-"
    _say(f"combined {r['game']}: {value}  over {human_count(c['count'] if c else 0)} of "
         f"{human_count(r['total'])} colors")
    if r["expected_matches"] is not None:
        _say(f"expected_xor: {'MATCH' if r['expected_matches'] else 'MISMATCH'}")
    _say(f"bandwidth: {rate(r['colors_per_second'])} colors/s in {r['mining_seconds']:.3f} s "
         f"(chunk {human_count(r['chunk_size'])}, replicas {r['replicas']}, audits {r['audits']} per chunk)"
         + (f"; resumed {human_count(r['resumed_colors'])} colors from the journal" if r["resumed_colors"] else ""))
    g = r["guarantee"]
    _say(f"guarantee: {g['text']}; audit cost {g['audit_share'] * 100:.2f}% of the work")
    if r["wrong_miners"]:
        _say(f"convicted: {', '.join(r['wrong_miners'])} (all their work was redone)")
    if r["failed_miners"]:
        _say(f"failed: {', '.join(r['failed_miners'])}")
    if r["duplicates_ignored"]:
        _say(f"late duplicate results ignored: {r['duplicates_ignored']}")
    for p in r["problems"]:
        _say(f"problem: {p}")
    _say("VERIFIED" if r["verified"] else "NOT VERIFIED")
