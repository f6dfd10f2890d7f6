"""`exo-gay bench`: colors per second here, per backend, algorithm, game and thread count."""

from __future__ import annotations

from ..cliutil import EXIT_OK, add_json, examples, parse_threads, print_json, show_progress
from ..errors import InputError
from ..extras import require


def register(sub) -> None:
    p = sub.add_parser("bench", help="colors/s per backend, algorithm, game and thread count here",
                       description="Measures colors per second on this machine for every backend, algorithm, "
                                   "game and thread count, beside a plain C loop when a C compiler is here.",
                       epilog=examples("exo-gay bench", "exo-gay bench --seconds 0.2 --threads 1,2 --no-games --json"))
    p.add_argument("--seconds", type=float, default=1.0, help="target time per measurement (default 1)")
    p.add_argument("--threads", default=None, metavar="N,N,...",
                   help="comma list of thread counts (default 1,2,..,all cores)")
    p.add_argument("--no-c", action="store_true", help="skip the plain-C reference loop")
    p.add_argument("--no-games", action="store_true", help="skip the color games")
    add_json(p, "print the report as JSON instead of a table (no live progress)")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    require("fast")  # bench measures the compiled kernel
    from ..bench import render_bench, run_bench

    threads = None
    if args.threads:
        threads = [parse_threads(t) for t in args.threads.split(",")]
    if not 0.05 <= args.seconds <= 600:
        raise InputError("--seconds must be in [0.05, 600]")
    report = run_bench(seconds=args.seconds, threads=threads, with_c=not args.no_c,
                       with_games=not args.no_games, live=show_progress(args.json))
    if args.json:
        print_json(report)
    else:
        render_bench(report)
    return EXIT_OK
