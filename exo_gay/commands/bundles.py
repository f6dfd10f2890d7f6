"""`exo-gay bundle check|make`: check a seed bundle, or make one."""

from __future__ import annotations

import sys
from dataclasses import replace

from .. import jsonfile
from ..bundle import make_bundle, nashprop_order, validate, weights_from_doc
from ..cliutil import (
    EXIT_OK,
    EXIT_USAGE,
    OUTPUT_POLICY,
    SEED_HELP,
    add_threads_and_backend,
    check_output,
    did_you_mean,
    dump_json,
    examples,
    human_count,
    parse_int,
    parse_threads,
    progress,
    show_progress,
)
from ..errors import InputError
from ..gayhy import ALGORITHMS
from ..kernels import get_backend
from ..registry import NAMES as GAME_NAMES
from ..registry import UnknownReduction, get_reduction
from ..runner import reduce_range
from ..spi import hex64

STDIN_NOTE = "- reads it from standard input"


def register(sub) -> None:
    p = sub.add_parser("bundle", help="seed bundles: check one, or make one",
                       description="A seed bundle says which host mines which range of which seed (JSON).",
                       epilog=examples("exo-gay bundle make --seed 7202985 --total 3e9 --hosts a,b,c -o bundle.json",
                                       "exo-gay bundle check bundle.json"))
    bsub = p.add_subparsers(title="actions", dest="bundle_command", metavar="ACTION")
    bsub.required = True

    c = bsub.add_parser("check", help="validate a bundle; every problem with its place, exit 2 if any",
                        description="Checks a bundle file as `mine` reads it and prints its summary, or every "
                                    "problem with its place (one line each) and exit 2.",
                        epilog=examples("exo-gay bundle check configs/bundle.example.json",
                                        "exo-gay bundle make --seed 1 --total 1e6 --hosts a,b "
                                        "| exo-gay bundle check -"))
    c.add_argument("file", metavar="FILE", help=f"the bundle JSON file ({STDIN_NOTE})")
    c.add_argument("--json", action="store_true", help="print the normalised bundle (or the problems) as JSON")
    c.set_defaults(func=cmd_check)

    m = bsub.add_parser(
        "make", help="split a total over hosts: evenly, by measured bandwidth, or by NashProp",
        description="Split TOTAL colors from START over the hosts, in order, as consecutive ranges "
                    "(polarity = position % 3), and print the bundle or write it with -o.",
        epilog=examples(
            "exo-gay bundle make --seed 7202985 --total 1.5e9 \\",
            "--hosts causality,hatchery,2-monad",
            "# by measured speed, so every host finishes together:",
            "exo-gay bundle make --seed 1 --total 1e11 --hosts a,b \\",
            "--weights a=3.1e9,b=1.2e9 -o weighted.json",
            "# with the answer filled in (computed here, on every core):",
            "exo-gay bundle make --seed 5 --total 3e9 --hosts x,y,z \\",
            "--compute-expected -o expected.json",
            "exo-gay bundle make --seed 5 --total 1e9 --hosts x,y --game 'fixed(depth=64)'"))
    m.add_argument("--seed", required=True, help=SEED_HELP)
    m.add_argument("--total", required=True, help="colors in all (1e9 form accepted)")
    m.add_argument("--hosts", required=True, metavar="NAME,NAME,...", help="comma list of host names, in range order")
    m.add_argument("--start", default="0", help="first index, decimal or 0x-hex (default 0)")
    w = m.add_mutually_exclusive_group()
    w.add_argument("--weights", metavar="HOST=RATE,...",
                   help="host=colors_per_second,... : split so all hosts finish together")
    w.add_argument("--weights-from", metavar="FILE",
                   help="JSON file: {host: colors_per_second} or an `exo-gay mine --json` report "
                        f"({STDIN_NOTE})")
    m.add_argument("--nashprop", action="store_true",
                   help="order hosts by NashProp (the order every member derives alone from seed and names)")
    m.add_argument("--algorithm", choices=ALGORITHMS, default="canonical",
                   help="canonical (default) or gay.hy's 32-bit hash (compatibility only)")
    m.add_argument("--game", default="xor",
                   help=f"what to mine, one of {', '.join(GAME_NAMES)}, or fixed(depth=N) "
                        "(default xor: the fingerprint)")
    m.add_argument("--chunk-size", default=None, metavar="N", help="colors per work unit (default: chosen by `mine`)")
    m.add_argument("--compute-expected", action="store_true",
                   help="fill in expected_xor by computing it here (all cores, progress on a terminal)")
    add_threads_and_backend(m)
    m.add_argument("-o", "--out", metavar="FILE", help=f"write the bundle here instead of stdout ({OUTPUT_POLICY})")
    m.set_defaults(func=cmd_make)


def _name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def cmd_check(args) -> int:
    name = _name(args.file)
    doc = jsonfile.read(args.file, "bundle")
    bundle, problems = validate(doc)
    if problems:
        if args.json:
            sys.stdout.write(dump_json({"file": name, "ok": False, "problems": problems}))
        for prob in problems:
            sys.stderr.write(f"{args.command_prog}: error: {name}: {prob}\n")
        return EXIT_USAGE
    if args.json:
        sys.stdout.write(dump_json({"file": name, "ok": True, "hash": bundle.hash, "bundle": bundle.to_json()}))
    else:
        print(_summary(name, bundle))
    return EXIT_OK


def _summary(name: str, bundle) -> str:
    expected = "none" if bundle.expected_xor is None else hex64(bundle.expected_xor)
    return (f"{name}: ok: seed {bundle.seed}, {len(bundle.ranges)} host(s), total {bundle.total} "
            f"({human_count(bundle.total)}) colors, game {bundle.game}, expected_xor {expected}")


def _parse_weights(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in text.split(","):
        host, eq, val = item.partition("=")
        if not eq or not host.strip():
            raise InputError(f"--weights: expected host=colors_per_second, got {item!r}")
        try:
            out[host.strip()] = float(val)
        except ValueError:
            raise InputError(f"--weights: {val!r} is not a number") from None
    return out


def _check_game(spec: str) -> None:
    try:
        get_reduction(spec)
    except UnknownReduction as e:
        name = spec.split("(", 1)[0].strip()
        raise InputError(f"--game: {e}{did_you_mean(name, GAME_NAMES)}") from None
    except InputError as e:
        raise InputError(f"--game: {e}") from None


def cmd_make(args) -> int:
    seed = parse_int(args.seed, "--seed")
    total = parse_int(args.total, "--total", lo=1, hi=1 << 64)
    start = parse_int(args.start, "--start")
    chunk = None if args.chunk_size is None else parse_int(args.chunk_size, "--chunk-size", lo=1)
    threads = parse_threads(args.threads)
    check_output(args.out, "-o", inputs={"--weights-from": args.weights_from}, example="bundle.json")
    hosts = [h.strip() for h in args.hosts.split(",")]
    if any(not h for h in hosts):
        raise InputError("--hosts: an empty host name")
    _check_game(args.game)
    weights = None
    if args.weights:
        weights = _parse_weights(args.weights)
    elif args.weights_from:
        doc = jsonfile.read(args.weights_from, "weights")
        try:
            weights = weights_from_doc(doc)
        except InputError as e:
            raise InputError(f"--weights-from {_name(args.weights_from)}: {e}") from None
    if args.nashprop:
        hosts = nashprop_order(seed, hosts)
    bundle = make_bundle(seed, total, hosts, weights=weights, start=start, algorithm=args.algorithm,
                         game=args.game, chunk_size=chunk)
    if args.compute_expected:
        if bundle.game != "xor":
            raise InputError("--compute-expected: only for game xor")
        backend = get_backend(args.backend)
        xor = 0
        with progress(bundle.total, "expected_xor", show_progress()) as bar:
            for r in bundle.ranges:
                xor ^= reduce_range(seed, r.start, r.count, bundle.algorithm, threads=threads, backend=backend,
                                    on_progress=bar.advance)
        bundle = replace(bundle, expected_xor=xor)
    text = dump_json(bundle.to_json())
    if args.out:
        jsonfile.atomic_write(args.out, text)
        print(f"wrote {_summary(args.out, bundle).replace(': ok:', ':', 1)}")
    else:
        sys.stdout.write(text)
    return EXIT_OK
