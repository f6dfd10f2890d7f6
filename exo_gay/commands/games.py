"""`exo-gay game furthest|fixed|disguise`: the color games from the shell."""

from __future__ import annotations

import sys
import time

from .. import disguise, games, jsonfile
from ..cliutil import (
    EXIT_FAILED,
    EXIT_OK,
    OUTPUT_POLICY,
    add_json,
    add_range,
    add_threads_and_backend,
    check_output,
    dump_json,
    examples,
    hex_rgb,
    parse_int,
    parse_range,
    parse_threads,
    print_json,
    progress,
    rate_text,
    show_progress,
    status,
    swatch,
)
from ..errors import InputError
from ..kernels import get_backend
from ..registry import get_reduction, spec_depth
from ..runner import default_threads, reduce_range
from ..spi import hex64, mix, rgb

# The bundle every example that reads bundle.json makes first (the one of `exo-gay --help`), and its
# three polarity fingerprints: exo-gay fingerprint --seed 7202985 --start 0, 1e9, 2e9 --count 1e9.
MAKE_BUNDLE = "exo-gay bundle make --seed 7202985 --total 3e9 --hosts a,b,c -o bundle.json"
ENCODE = "exo-gay game disguise encode --bundle bundle.json --message hello -o mask.json"
FINGERPRINTS = ("0xfabdb53797e0deaa", "0x0c172e90b2d438bd", "0x06b884730a7a67fd")


def register(sub) -> None:
    game = sub.add_parser("game", help="the color games: furthest, fixed, disguise",
                          description="Games over a range of colors, each checked on every split like the "
                                      "fingerprint: the furthest color from \"gay\", the nearest to a fixed point "
                                      "of mix, and a message hidden under a bundle's three polarities.",
                          epilog=examples("exo-gay game furthest --seed 7202985 --count 1e9",
                                          "exo-gay game fixed --seed 7202985 --count 1e9",
                                          "# a bundle of three hosts, one per polarity, then a message under it:",
                                          MAKE_BUNDLE, ENCODE))
    gsub = game.add_subparsers(title="games", dest="game", metavar="GAME", parser_class=type(game))
    gsub.required = True

    p = gsub.add_parser("furthest", help='the color with the fewest bits differing from fnv1a("gay") ^ 0xff..ff',
                        description='The color of [start, start + count) furthest from "gay": the fewest bits '
                                    'differing from fnv1a("gay") ^ 0xff..ff (ties: the smaller index), with '
                                    "its index, RGB and, on a terminal, a swatch.",
                        epilog=examples("exo-gay game furthest --seed 7202985 --count 1e9",
                                        "exo-gay game furthest --seed 0x6761795f636f6c6f --start 1e12 --count 1e8"))
    _range_args(p)
    p.set_defaults(func=cmd_furthest)

    p = gsub.add_parser("fixed", help="near-fixed point (least popcount(mix(c) ^ c)) and a cycle probe from it",
                        description="The color c of [start, start + count) that mix moves least (the least "
                                    "popcount(mix(c) ^ c)), then whether the chain c, mix(c), ... repeats "
                                    "within DEPTH steps.",
                        epilog=examples("exo-gay game fixed --seed 7202985 --count 1e9",
                                        "exo-gay game fixed --seed 7202985 --count 1e6 --depth 4096 --json"))
    _range_args(p)
    p.add_argument("--depth", default=None,
                   help="cycle probe: does the chain c, mix(c), ... repeat within DEPTH steps "
                        "(default 1048576, at most 2**32; Brent, constant memory, <= 3*DEPTH mixes)")
    p.set_defaults(func=cmd_fixed)

    p = gsub.add_parser("disguise",
                        help="hide a message under a bundle's three polarity fingerprints (a game, not encryption)",
                        description="A message hidden under a bundle's three polarity fingerprints: encode "
                                    "writes a mask, decode needs all three fingerprints to read it. A game, "
                                    "not encryption: whoever has the bundle can read the message.",
                        epilog=examples(
                            MAKE_BUNDLE,
                            ENCODE,
                            "exo-gay game disguise decode --mask mask.json --bundle bundle.json"))
    dsub = p.add_subparsers(title="actions", dest="action", metavar="ACTION", parser_class=type(game))
    dsub.required = True
    e = dsub.add_parser("encode", help="write the mask that hides MESSAGE under the bundle's three fingerprints",
                        description="Computes the bundle's three polarity fingerprints here and prints (or "
                                    "writes with -o) the mask that hides MESSAGE under them.",
                        epilog=examples(
                            MAKE_BUNDLE,
                            ENCODE,
                            "# from a pipe, the mask printed:",
                            "exo-gay bundle make --seed 1 --total 3e6 --hosts a,b,c \\",
                            "| exo-gay game disguise encode --bundle - --message hi"))
    e.add_argument("--bundle", required=True, metavar="FILE",
                   help="bundle JSON (seed and ranges with polarity; - reads it from standard input)")
    e.add_argument("--message", required=True, help="UTF-8 text, at most 4096 bytes")
    e.add_argument("-o", "--out", default=None, metavar="FILE",
                   help=f"mask file to write (default: print it; {OUTPUT_POLICY})")
    _common(e)
    e.set_defaults(func=cmd_encode)
    d = dsub.add_parser("decode", help="recover the message from a mask and all three fingerprints",
                        description="Reads the message of a mask with all three polarity fingerprints: computed "
                                    "from the bundle, or given as miners reported them; wrong ones: exit 1.",
                        epilog=examples(
                            MAKE_BUNDLE,
                            ENCODE,
                            "exo-gay game disguise decode --mask mask.json --bundle bundle.json",
                            "# or with the three fingerprints as the miners of a, b and c reported them",
                            "# (a's is exo-gay fingerprint --seed 7202985 --count 1e9):",
                            "exo-gay game disguise decode --mask mask.json \\",
                            f"--fingerprint minus={FINGERPRINTS[0]} \\",
                            f"--fingerprint ergodic={FINGERPRINTS[1]} \\",
                            f"--fingerprint plus={FINGERPRINTS[2]}"))
    d.add_argument("--mask", required=True, metavar="FILE",
                   help="mask file written by encode (- reads it from standard input)")
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument("--bundle", metavar="FILE",
                     help="bundle JSON: the three fingerprints are computed from it (- reads it from standard input)")
    src.add_argument("--fingerprint", action="append", metavar="P=HEX",
                     help="one polarity's fingerprint, e.g. 0=0x1234 (or minus=, ergodic=, plus=); give all three")
    _common(d)
    d.set_defaults(func=cmd_decode)


def _common(p) -> None:
    add_threads_and_backend(p)
    add_json(p)


def _range_args(p) -> None:
    add_range(p)
    _common(p)


def _run(spec: str, seed: int, start: int, count: int, args):
    red = get_reduction(spec)
    threads = parse_threads(args.threads) or default_threads()
    backend = get_backend(args.backend, red.family)
    with progress(count, f"game {red.name.split('(')[0]}", show_progress(args.json)) as bar:
        t0 = time.perf_counter()
        value = reduce_range(seed, start, count, reduction=red, threads=threads, backend=backend,
                             on_progress=bar.advance)
        seconds = time.perf_counter() - t0
    return red, value, seconds, threads, backend


def _winner_fields(value) -> dict:
    d, i, c = value
    return {"index": i, "color": hex64(c), "distance": d, "rgb": list(rgb(c)), "hex_rgb": hex_rgb(c)}


def _show_winner(out: dict, label: str) -> None:
    tty = sys.stdout.isatty()
    print(f"  index     {out['index']}")
    print(f"  color     {out['color']}  rgb({', '.join(map(str, out['rgb']))}) {out['hex_rgb']}"
          + (f"  {swatch(int(out['color'], 16))}" if tty else ""))
    print(f"  distance  {out['distance']} of 64 bits differ {label}")


def _timing(out: dict, seconds: float, threads: int, backend) -> None:
    out["seconds"] = round(seconds, 6)
    out["colors_per_second"] = round(out["count"] / seconds) if seconds > 0 else None
    out["threads"] = threads
    out["backend"] = backend.name


def cmd_furthest(args) -> int:
    seed, start, count = parse_range(args.seed, args.start, args.count)
    red, value, seconds, threads, backend = _run("furthest", seed, start, count, args)
    out = {"game": red.name, "seed": seed, "start": start, "count": count, "target": hex64(games.TARGET),
           **_winner_fields(value)}
    _timing(out, seconds, threads, backend)
    if args.json:
        print_json(out)
        return EXIT_OK
    print(f'furthest color from "gay" (target {out["target"]}) in [{start}, {start + count}) of seed {seed}')
    _show_winner(out, "from the target")
    print(f"  {rate_text(count, seconds, f'{backend.name}, {threads} threads')}")
    return EXIT_OK


def cmd_fixed(args) -> int:
    seed, start, count = parse_range(args.seed, args.start, args.count)
    depth = None if args.depth is None else parse_int(args.depth, "--depth", lo=1, hi=games.MAX_DEPTH)
    spec = "fixed" if depth is None else f"fixed(depth={depth})"
    red, value, seconds, threads, backend = _run(spec, seed, start, count, args)
    depth = spec_depth(red.name)
    with status(f"cycle probe from the winner: up to {depth} steps", show_progress(args.json)):
        cycle = games.fixed_cycle(value, depth, backend)
    out = {"game": red.name, "seed": seed, "start": start, "count": count, **_winner_fields(value),
           "next": hex64(mix(value[2])), "depth": depth, "cycle": cycle}
    _timing(out, seconds, threads, backend)
    if args.json:
        print_json(out)
        return EXIT_OK
    print(f"nearest to a fixed point of mix in [{start}, {start + count}) of seed {seed}")
    _show_winner(out, "between the color and mix(color)")
    print(f"  mix(c)    {out['next']}")
    cyc = out["cycle"]
    if cyc is None:
        print(f"  cycle     none: the chain c, mix(c), ... has no repeat within {depth} steps (as expected)")
    else:
        print(f"  cycle     FOUND: tail {cyc['tail']}, length {cyc['length']}")
    print(f"  {rate_text(count, seconds, f'{backend.name}, {threads} threads')}")
    return EXIT_OK


def _load_bundle(path: str):
    try:
        return disguise.bundle_polarity_ranges(jsonfile.read(path, "bundle"))
    except disguise.DisguiseError as e:
        raise disguise.DisguiseError(f"bundle {path}: {e}") from None


def _bundle_fingerprints(seed, by_p, args) -> tuple[int, int, int]:
    total = sum(c for rs in by_p.values() for _, c in rs)
    backend = get_backend(args.backend)
    with progress(total, "fingerprints", show_progress(args.json)) as bar:
        return disguise.polarity_fingerprints(seed, by_p, threads=parse_threads(args.threads),
                                              on_progress=bar.advance, backend=backend)


_POLARITY_NAMES = {"0": 0, "1": 1, "2": 2, "minus": 0, "ergodic": 1, "plus": 2}


def _given_fingerprints(items: list[str]) -> tuple[int, int, int]:
    fps: dict[int, int] = {}
    for item in items:
        key, eq, val = item.partition("=")
        p = _POLARITY_NAMES.get(key.strip().lower())
        if not eq or p is None:
            raise InputError(f"--fingerprint {item!r}: expected P=HEX with P one of 0, 1, 2, minus, ergodic, plus")
        if p in fps:
            raise InputError(f"--fingerprint: polarity {p} given twice")
        fps[p] = parse_int(val, f"--fingerprint {key}")
    missing = [str(p) for p in (0, 1, 2) if p not in fps]
    if missing:
        raise InputError(f"--fingerprint: the disguise needs all three polarities; missing {', '.join(missing)}")
    return fps[0], fps[1], fps[2]


def cmd_encode(args) -> int:
    parse_threads(args.threads)  # validate before any work
    disguise.message_words(args.message)  # length check before any work
    check_output(args.out, "-o", inputs={"--bundle": args.bundle}, example="mask.json")  # before computing anything
    seed, by_p = _load_bundle(args.bundle)
    fps = _bundle_fingerprints(seed, by_p, args)
    mask = disguise.encode_message(args.message, fps, seed=seed)
    text = dump_json(mask)
    if args.out is None:
        sys.stdout.write(text)
    else:
        jsonfile.atomic_write(args.out, text)
        if args.json:
            print_json({"mask": args.out, "words": len(mask["words"]), "seed": seed})
        else:
            print(f"wrote {args.out}: {len(mask['words'])} words; decode needs all three polarities' "
                  f"fingerprints (a game, not encryption)")
    return EXIT_OK


def cmd_decode(args) -> int:
    parse_threads(args.threads)  # validate before any work
    if args.mask == "-" and args.bundle == "-":
        raise InputError("--mask - and --bundle -: only one of them can be read from standard input")
    mask = jsonfile.read(args.mask, "mask")
    try:
        _, mask_seed = disguise.parse_mask(mask)
    except disguise.DisguiseError as e:
        raise disguise.DisguiseError(f"mask {args.mask}: {e}") from None
    if args.bundle is not None:
        seed, by_p = _load_bundle(args.bundle)
        if mask_seed is not None and mask_seed != seed:
            raise InputError(f"mask {args.mask} was made for seed {mask_seed}, bundle {args.bundle} has seed {seed}")
        fps = _bundle_fingerprints(seed, by_p, args)
    else:
        fps = _given_fingerprints(args.fingerprint)
    try:
        message = disguise.decode_message(mask, fps)
    except disguise.DisguiseError as e:
        if args.json:
            print_json({"ok": False, "error": str(e), "fingerprints": [hex64(f) for f in fps]})
        sys.stderr.write(f"{args.command_prog}: error: {e}\n")
        return EXIT_FAILED
    if args.json:
        print_json({"ok": True, "message": message, "fingerprints": [hex64(f) for f in fps]})
    else:
        sys.stdout.write(message + "\n")
    return EXIT_OK

