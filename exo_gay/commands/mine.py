"""`exo-gay serve` (a miner) and `exo-gay mine` (the coordinator): exo_gay/mesh/."""

from __future__ import annotations

import sys

from ..cliutil import (EXIT_FAILED, EXIT_OK, UsageError, atomic_write, check_folder, dump_json, human_rate, parse_int,
                       parse_threads, print_json, progress, show_progress)
from ..spi import MESH_PORT


def register(sub) -> None:
    p = sub.add_parser("serve", help="run a miner (gRPC) that mines ranges for a coordinator")
    p.add_argument("--node-id", required=True, help="this miner's name (a bundle host or an exo node id)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", default=str(MESH_PORT), help=f"port (default {MESH_PORT}; 0 = any free port)")
    p.add_argument("--key-file", help="shared key (hex text or raw bytes): authenticate every message")
    p.add_argument("--threads", default=None, help="worker threads (default: all cores)")
    p.add_argument("--backend", default="auto")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("mine", help="mine a bundle on miners over gRPC and prove the combined fingerprint")
    p.add_argument("--bundle", required=True, help="bundle JSON (see `exo-gay bundle`)")
    p.add_argument("--peers", help="cluster file in exo's manual-discovery format; default: one local "
                                   "miner per bundle host on 127.0.0.1")
    p.add_argument("--key-file", help="shared key: authenticate every request and response")
    p.add_argument("--json", action="store_true", help="print the report as JSON (no progress bar)")
    p.add_argument("--out", help="also write the JSON report here (atomically)")
    p.add_argument("--journal", help="append accepted chunks here; rerun with it to resume")
    p.add_argument("--spot-checks", default="1", help="chunks per miner recomputed elsewhere (default 1)")
    p.add_argument("--replicas", default="1", help="distinct miners per chunk, majority wins (default 1)")
    p.add_argument("--chunk-size", default=None, help="colours per chunk (default: bundle's, else ~16 per host)")
    p.add_argument("--chunk-deadline", default=None, type=float,
                   help="seconds a miner gets per chunk before it counts as stalled (default: from its rate)")
    p.add_argument("--threads", default=None, help="threads per local miner (default: cores / hosts)")
    p.set_defaults(func=cmd_mine)


def _key(path: str | None) -> bytes | None:
    if path is None:
        return None
    from ..mesh.auth import load_key

    return load_key(path)


def cmd_serve(args) -> int:
    import asyncio

    from ..kernels import BackendRefused
    from ..mesh.service import serve

    port = parse_int(args.port, "--port", hi=65535)
    threads = parse_threads(args.threads)
    if not args.node_id.strip():
        raise UsageError("--node-id: empty")
    key = _key(args.key_file)
    try:
        asyncio.run(serve(args.node_id, args.host, port, key=key, threads=threads, backend=args.backend))
    except BackendRefused as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot listen on {args.host}:{port}: {e}") from None
    return EXIT_OK


def cmd_mine(args) -> int:
    import asyncio

    from ..bundle import load_bundle
    from ..mesh.cluster import load_cluster
    from ..mesh.coordinator import Coordinator, SetupError, check_setup, start_local_miners

    bundle = load_bundle(args.bundle)
    key = _key(args.key_file)
    spot = parse_int(args.spot_checks, "--spot-checks", hi=1 << 20)
    replicas = parse_int(args.replicas, "--replicas", lo=1, hi=1 << 10)
    chunk = None if args.chunk_size is None else parse_int(args.chunk_size, "--chunk-size", lo=1)
    threads = parse_threads(args.threads)
    if args.chunk_deadline is not None and not 0 < args.chunk_deadline <= 86400:
        raise UsageError("--chunk-deadline must be in (0, 86400] seconds")
    peers = load_cluster(args.peers) if args.peers else None
    for path in (args.out, args.journal):
        if path:
            check_folder(path)
    try:  # refuse everything refusable before a miner starts or a journal is created
        check_setup(bundle, [p.node_id for p in peers] if peers else bundle.hosts, replicas, spot, chunk,
                    args.journal)
    except SetupError as e:
        raise UsageError(str(e)) from None

    with progress(bundle.total, "mine", show_progress(args.json)) as bar:
        seen = [0]

        def on_progress(done: int) -> None:
            bar.advance(done - seen[0])
            seen[0] = done

        async def go():
            servers = []
            ps = peers
            if ps is None:
                ps, servers = await start_local_miners(bundle.hosts, key=key, threads=threads)
            try:
                return await Coordinator(bundle, ps, key=key, spot_checks=spot, replicas=replicas,
                                         journal_path=args.journal, chunk_size=chunk,
                                         chunk_deadline=args.chunk_deadline, on_progress=on_progress).run()
            finally:
                for s in servers:
                    await s.stop(None)

        report = asyncio.run(go())
    out = report.to_json()
    if args.out:
        atomic_write(args.out, dump_json(out))
    if args.json:
        print_json(out)
    else:
        print_report(out)
    return EXIT_OK if report.verified else EXIT_FAILED


def _table(headers: list[str], rows: list[list[str]], title: str) -> None:
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        t = Table(title=title)
        for h in headers:
            t.add_column(h, justify="right" if h in ("count", "colours/s", "chunks") else "left",
                         no_wrap=h in ("host", "count", "fingerprint"))  # never cut a fingerprint
        for r in rows:
            t.add_row(*r)
        Console().print(t)
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print(title)
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def print_report(r: dict) -> None:
    rate = lambda x: f"{human_rate(x)}" if x else "-"  # noqa: E731
    rows = []
    for h in r["hosts"]:
        status = h["status"] + (f" ({h['reason']})" if h["reason"] else "")
        if h["mined_by_others"]:
            status += f"; {h['mined_by_others']} mined by others"
        rows.append([h["host"], f"[{h['start']}, {h['start'] + h['count']})", str(h["count"]),
                     rate(h["colors_per_second"]), h["fingerprint"] or "-", status])
    _table(["host", "range", "count", "colours/s", "fingerprint", "status"], rows,
           f"bundle {r['bundle_hash'][:12]}  seed {r['seed']:#x}  game {r['game']}")
    helpers = [m for m in r["miners"] if m["node_id"] not in {h["host"] for h in r["hosts"]}]
    if helpers:
        _table(["miner", "chunks", "colours/s", "status"],
               [[m["node_id"], str(m["chunks"]), rate(m["colors_per_second"]),
                 m["status"] + (f" ({m['reason']})" if m["reason"] else "")] for m in helpers], "helpers")
    c = r["combined"]
    value = (c["xor"] if r["game"] == "xor" else c["value"]) if c else "-"
    print(f"combined {r['game']}: {value}  over {c['count'] if c else 0} of {r['total']} colours")
    if r["expected_matches"] is not None:
        print(f"expected_xor: {'MATCH' if r['expected_matches'] else 'MISMATCH'}")
    print(f"bandwidth: {rate(r['colors_per_second'])} colours/s in {r['mining_seconds']:.3f} s "
          f"(chunk {r['chunk_size']}, replicas {r['replicas']}, spot checks {r['spot_checks']})"
          + (f"; resumed {r['resumed_colours']} colours from the journal" if r["resumed_colours"] else ""))
    if r["wrong_miners"]:
        print(f"wrong results from: {', '.join(r['wrong_miners'])} (their work was redone elsewhere)")
    if r["failed_miners"]:
        print(f"failed: {', '.join(r['failed_miners'])}")
    if r["duplicates_ignored"]:
        print(f"late duplicate results ignored: {r['duplicates_ignored']}")
    for p in r["problems"]:
        print(f"problem: {p}")
    print("VERIFIED" if r["verified"] else "NOT VERIFIED")
