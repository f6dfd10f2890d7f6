"""`exo-gay bench`: colors/s of our kernels here, start-up, the load; from a checkout, beside hand-written C."""

from __future__ import annotations

import sys

from ..cliutil import EXIT_OK, add_json, examples, parse_float, parse_int, parse_threads, print_json, show_progress


def register(sub) -> None:
    p = sub.add_parser("bench", help="colors/s per backend, algorithm, game and thread count here",
                       description="Measures colors per second on this machine for every backend, algorithm, "
                                   "game and thread count, and the start-up of a fresh process; says how busy "
                                   "the machine was. Run from a checkout, it also puts the kernel beside "
                                   "hand-written C loops (benchmarks/kernel_vs_c.py).",
                       epilog=examples("exo-gay bench", "exo-gay bench --seconds 0.2 --threads 1,2 --no-games --json"))
    p.add_argument("--seconds", default="1", help="target time per measurement, in [0.05, 600] (default 1)")
    p.add_argument("--threads", default=None, metavar="N,N,...",
                   help="comma list of thread counts (default 1,2,..,all cores)")
    p.add_argument("--no-c", action="store_true", help="skip the comparison with hand-written C loops")
    p.add_argument("--c-count", default="2e10", metavar="N",
                   help="colors per whole-process run of the C comparison (default 2e10)")
    p.add_argument("--no-games", action="store_true", help="skip the color games")
    add_json(p, "print the report as JSON instead of a table (no live progress)")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    seconds = parse_float(args.seconds, "--seconds", 0.05, 600)
    c_count = parse_int(args.c_count, "--c-count", 1, 10**13)
    threads = None
    if args.threads:
        threads = [parse_threads(t) for t in args.threads.split(",")]
    from ..bench import render_bench, run_bench

    live = show_progress(args.json)
    say = (lambda msg: print(f"bench {msg}", file=sys.stderr, flush=True)) if live else (lambda msg: None)
    report = run_bench(seconds=seconds, threads=threads, with_c=not args.no_c, with_games=not args.no_games,
                       c_count=c_count, say=say)
    if args.json:
        print_json(report)
    else:
        render_bench(report)
    return EXIT_OK
