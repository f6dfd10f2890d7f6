"""The colour engine's commands: fingerprint, colors, gayhy, bench."""

from __future__ import annotations

import sys
import time

from ..cliutil import (EXIT_OK, UsageError, hex_rgb, parse_int, parse_range, parse_threads, print_json, rate_text,
                       progress, show_progress, swatch)
from ..gayhy import ALGORITHMS, PUBLISHED_COUNT
from ..spi import IHOR_SEED, MASK64, hex64



def register(sub) -> None:
    p = sub.add_parser("fingerprint", help="XOR of the colours of an index range (the fingerprint)")
    p.add_argument("--seed", required=True, help="64-bit seed (decimal or 0x-hex)")
    p.add_argument("--start", default="0", help="first index (default 0)")
    p.add_argument("--count", required=True, help="number of colours (1e9 form accepted)")
    p.add_argument("--algorithm", choices=ALGORITHMS, default="canonical",
                   help="canonical (default) or gay.hy's 32-bit hash, for compatibility only")
    _add_backend_args(p)
    p.add_argument("--json", action="store_true", help="print JSON, no progress bar")
    p.set_defaults(func=cmd_fingerprint)

    p = sub.add_parser("colors", help="print colours: index, hex, and a 24-bit swatch")
    p.add_argument("--seed", required=True)
    p.add_argument("--start", default="0")
    p.add_argument("--count", default="16", help="how many (default 16, at most 1e6)")
    p.add_argument("--swatch", choices=("auto", "always", "never"), default="auto",
                   help="ANSI colour swatch: auto = only on a terminal")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_colors)

    p = sub.add_parser("gayhy", help="gay.hy's two published figures (compatibility, not fingerprints)")
    p.add_argument("--seed", default=str(IHOR_SEED))
    p.add_argument("--count", default=str(PUBLISHED_COUNT), help="colours for fp= (default 500M, as published)")
    _add_backend_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_gayhy)

    p = sub.add_parser("bench", help="colours/s per backend, algorithm, game and thread count here")
    p.add_argument("--seconds", type=float, default=1.0, help="target time per measurement (default 1)")
    p.add_argument("--threads", default=None, help="comma list of thread counts (default 1,2,..,all)")
    p.add_argument("--no-c", action="store_true", help="skip the plain-C reference loop")
    p.add_argument("--no-games", action="store_true", help="skip the colour games")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)


def _add_backend_args(p) -> None:
    p.add_argument("--threads", default=None, help="worker threads (default: all cores)")
    p.add_argument("--backend", default="auto", help="colour backend (default auto: fastest that passes its self-check)")


def _backend(name: str):
    from ..kernels import BackendRefused, get_backend

    try:
        return get_backend(name)
    except BackendRefused as e:
        raise UsageError(str(e)) from None


def cmd_fingerprint(args) -> int:
    from ..gayhy import gayhy_fp
    from ..runner import default_threads, reduce_range

    seed, start, count = parse_range(args.seed, args.start, args.count, args.algorithm)
    threads = parse_threads(args.threads) or default_threads()
    backend = _backend(args.backend)
    with progress(count, "fingerprint", show_progress(args.json)) as bar:
        t0 = time.perf_counter()
        xor = reduce_range(seed, start, count, args.algorithm, threads=threads, backend=backend,
                           on_progress=bar.advance)
        seconds = time.perf_counter() - t0
    out = {"seed": seed, "start": start, "count": count, "algorithm": args.algorithm,
           "xor": hex64(xor), "seconds": round(seconds, 6),
           "colors_per_second": round(count / seconds) if seconds > 0 else None,
           "backend": backend.name, "threads": threads}
    if args.algorithm == "gayhy-turbo32":
        out["gayhy_fp"] = f"0x{gayhy_fp(seed, xor):08x}"
    if args.json:
        print_json(out)
    else:
        print(f"seed={seed:#x} range=[{start}, {start + count}) algorithm={args.algorithm}")
        print(f"xor={out['xor']}" + (f"  gayhy fp={out['gayhy_fp']}" if "gayhy_fp" in out else ""))
        print(rate_text(count, seconds, f"{backend.name}, {threads} threads"))
    return EXIT_OK


def cmd_colors(args) -> int:
    from ..spi import GOLDEN, mix, rgb

    seed, start, count = parse_range(args.seed, args.start, args.count, max_count=1_000_000)
    colours = []
    x = (seed + start * GOLDEN) & MASK64
    for k in range(count):
        colours.append((start + k, mix(x)))
        x = (x + GOLDEN) & MASK64
    if args.json:
        print_json([{"index": i, "color": hex64(c), "rgb": list(rgb(c))} for i, c in colours])
        return EXIT_OK
    use_swatch = args.swatch == "always" or (args.swatch == "auto" and sys.stdout.isatty())
    width = len(str(start + count - 1))
    lines = []
    for i, c in colours:
        line = f"{i:>{width}}  {hex64(c)}  {hex_rgb(c)}"
        lines.append(f"{line}  {swatch(c)}" if use_swatch else line)
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK


def cmd_gayhy(args) -> int:
    from .. import gayhy
    from ..runner import reduce_range

    seed = parse_int(args.seed, "--seed")
    count = parse_int(args.count, "--count", lo=1, hi=1 << 32)
    backend = _backend(args.backend)
    xor32 = reduce_range(seed, 0, count, "gayhy-turbo32", threads=parse_threads(args.threads), backend=backend)
    fp = gayhy.gayhy_fp(seed, xor32)
    triadic = gayhy.triadic_xor(seed)
    if args.json:
        print_json({"seed": seed, "count": count, "fp": f"0x{fp:08x}", "triadic_xor": hex64(triadic),
                    "note": "gay.hy compatibility values, not canonical fingerprints (see README)"})
    else:
        print(f"fp=0x{fp:08x}  ({count} colours, gay.hy 32-bit hash, seed {seed})")
        print(f"Triadic XOR: {hex64(triadic)}")
        print("(gay.hy compatibility values; not canonical fingerprints: see README)", file=sys.stderr)
    return EXIT_OK


def cmd_bench(args) -> int:
    from ..bench import run_bench, render_bench

    threads = None
    if args.threads:
        threads = [parse_threads(t) for t in args.threads.split(",")]
    if not 0.05 <= args.seconds <= 600:
        raise UsageError("--seconds must be in [0.05, 600]")
    report = run_bench(seconds=args.seconds, threads=threads, with_c=not args.no_c,
                       with_games=not args.no_games, live=show_progress(args.json))
    if args.json:
        print_json(report)
    else:
        render_bench(report)
    return EXIT_OK
