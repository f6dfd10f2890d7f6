"""What the commands share: the parser, common flags, JSON output, progress bars, tables, swatches.

Only the CLI (cli.py, commands/) imports this module.  Bad input raises errors.InputError,
which cli.py turns into one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import logging
import math
import os
import re
import shlex
import sys
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Iterator, Sequence

from .errors import InputError
from .gayhy import INDEX_SPACES, index_space_text
from .spi import INDEX_SPACE, rgb
from .units import human_count, human_rate

EXIT_OK = 0
EXIT_FAILED = 1  # the work ran but could not be verified
EXIT_USAGE = 2  # bad input: nothing was done
EXIT_INTERRUPTED = 130  # Ctrl-C

log = logging.getLogger("exo_gay.cli")

SEED_HELP = "64-bit seed: decimal or 0x-hex (echoed in decimal; an integer in JSON)"
JSON_HELP = "print JSON on stdout instead of text (no progress bar)"


# ---------------------------------------------------------------- the parser

def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """"; did you mean X?" for the closest of ``choices`` to a mistyped ``word``, else ""."""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def examples(*lines: str) -> str:
    """An --help epilog: "examples:" then the lines, indented; a line starting with # is a comment,
    a line ending with a backslash continues on the next (kept within 80 columns)."""
    out, more = [], False
    for line in lines:
        out.append(("      " if more else "  ") + line)
        more = line.endswith("\\")
    return "examples:\n" + "\n".join(out)


class HelpFormatter(argparse.HelpFormatter):
    """Wraps one-paragraph text to the terminal; keeps text with line breaks (examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


class Parser(argparse.ArgumentParser):
    """argparse, for every command and sub-command of exo-gay.

    A usage mistake is one line on stderr, ``PROG: error: ...``, and exit 2; a mistyped flag is
    named as such (not reported as a missing required one) with the closest real flag, and an
    invalid choice gets the closest valid one.  Help wraps paragraphs and keeps the examples as written.
    The innermost parser that ran records its prog in ``args.command_prog`` (the error prefix).
    ``global_options``: the top parser's options, named as such when given after a command.
    """

    global_options: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kw: Any) -> None:
        kw.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kw)
        self._argv: list[str] = []

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: Any = None):  # type: ignore[override]
        self._argv = list(sys.argv[1:] if args is None else args)
        ns, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(self._unrecognized(extras))
        if getattr(ns, "command_prog", None) is None:  # the innermost parser sets it first
            ns.command_prog = self.prog
        return ns, extras

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is not None and value not in action.choices:
            choices = [str(c) for c in action.choices]
            raise argparse.ArgumentError(
                action, f"invalid choice: {value!r}{did_you_mean(str(value), choices)} "
                        f"(choose from {', '.join(choices)})")

    def _unknown_options(self, argv: list[str]) -> list[str]:
        """Option-like strings in argv that name none of this parser's options (as argparse reads them)."""
        out = []
        for s in argv:
            if s == "--":
                break
            if not s.startswith("-") or s == "-" or " " in s or _NEGATIVE_NUMBER.match(s):
                continue
            name = s.split("=", 1)[0] if s.startswith("--") else s[:2]
            known = name in self._option_string_actions or (
                name.startswith("--") and self.allow_abbrev
                and any(o.startswith(name) for o in self._option_string_actions))
            if not known:
                out.append(s)
        return out

    def _unrecognized(self, extras: list[str]) -> str:
        first = extras[0]
        hint = ""
        if (first.split("=", 1)[0] if first.startswith("--") else first[:2]) in self.global_options:
            hint = f"; {first} goes before the command: exo-gay {first} {self.prog.partition(' ')[2]} ..."
        elif first.startswith("-"):
            hint = did_you_mean(first.split("=", 1)[0], [o for o in self._option_string_actions if o.startswith("--")])
        more = f" (and {len(extras) - 1} more: {' '.join(extras[1:])})" if len(extras) > 1 else ""
        return f"unrecognized argument {first}{hint}{more}"

    def _subcommands(self) -> dict[str, "argparse.ArgumentParser"]:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    def _misplaced_option(self) -> str:
        """For `exo-gay --threads 2 fingerprint ...`: the message that says --threads belongs to the
        command, with the command line in the right order; "" when no such mistake is in argv."""
        if not self._subcommands():
            return ""
        argv = self._argv
        i = 0  # the first option before the command that this parser does not know
        while i < len(argv) and argv[i].startswith("-") and argv[i] not in ("-", "--") \
                and not self._unknown_options(argv[i:i + 1]):
            i += 1
        if i == len(argv) or not argv[i].startswith("-") or argv[i] in ("-", "--"):
            return ""
        option = argv[i]
        name = option.split("=", 1)[0]
        takers: dict[str, argparse.Action] = {}  # "game furthest": its action for the option

        def walk(parser: argparse.ArgumentParser, path: str) -> None:
            subs = parser._subcommands() if isinstance(parser, Parser) else {}
            if name in parser._option_string_actions and path:
                takers[path] = parser._option_string_actions[name]
            for n, sub in subs.items():
                walk(sub, f"{path} {n}".strip())

        walk(self, "")
        if not takers:
            return ""
        first = next(iter(takers.values()))
        moved = argv[i:i + 1 + (first.nargs != 0 and "=" not in option and i + 1 < len(argv))]
        rest = argv[:i] + argv[i + len(moved):]
        k = i  # where the command starts in rest, after any other options
        while k < len(rest) and rest[k].startswith("-"):
            k += 1
        path: list[str] = []
        node: argparse.ArgumentParser = self
        while k < len(rest) and isinstance(node, Parser) and rest[k] in node._subcommands():  # e.g. game furthest
            node = node._subcommands()[rest[k]]
            path.append(rest[k])
            k += 1
        given = " ".join(path)
        if given and given in takers:
            fixed = [*self.prog.split(), *rest[:k], *moved, *rest[k:]]
            return (f"{option} is an option of {self.prog} {given}, so it goes after the command: "
                    f"{shlex.join(fixed)}")
        below = [n for n in takers if n.startswith(f"{given} ")]  # `game` given, `game furthest` takes it
        names = below or list(takers)
        if below:
            given = ""
        listed = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        if given:
            return (f"{option} is an option of neither {self.prog} nor {self.prog} {given} "
                    f"(commands that take it: {listed})")
        example = [*self.prog.split(), *names[0].split(), *moved]
        return (f"{option} is an option of a command and goes after it, e.g. {shlex.join(example)} ... "
                f"(commands that take it: {listed})")

    def error(self, message: str):  # type: ignore[override]
        misplaced = self._misplaced_option()
        if misplaced:
            message = misplaced
        elif message.startswith("the following arguments are required") and not self._subparsers:
            unknown = self._unknown_options(self._argv)
            if unknown:  # `--bundel x`: the typo is the mistake, not the missing --bundle
                message = self._unrecognized(unknown)
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(EXIT_USAGE)


# ---------------------------------------------------------------- flags

def parse_int(text: str | int, name: str, lo: int = 0, hi: int = INDEX_SPACE - 1) -> int:
    """An integer from decimal, 0x-hex or 1e9-style text, checked against [lo, hi].

    "2.5e9" is accepted because it is an integer; "1.5" and "1e-3" are not.
    """
    if isinstance(text, bool):
        raise InputError(f"{name}: expected an integer, got {text!r}")
    if isinstance(text, int):
        value = text
    else:
        s = str(text).strip().replace("_", "")
        try:
            if s.lower().startswith(("0x", "-0x", "+0x")):
                value = int(s, 16)
            else:
                d = Decimal(s)
                if not d.is_finite() or d != d.to_integral_value():
                    raise InputError(f"{name}: {text!r} is not an integer")
                value = int(d)
        except (ValueError, InvalidOperation):
            raise InputError(f"{name}: {text!r} is not an integer (decimal, 0x-hex or 1e9 form)") from None
    if not lo <= value <= hi:
        raise InputError(f"{name}: {value} is out of range [{lo}, {hi}]")
    return value


def parse_float(text: str | float, name: str, lo: float, hi: float, above_lo: bool = False) -> float:
    """A finite number from text, checked against [lo, hi] ((lo, hi] with ``above_lo``)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InputError(f"{name}: {text!r} is not a number") from None
    low_ok = value > lo if above_lo else value >= lo
    if not (math.isfinite(value) and low_ok and value <= hi):
        raise InputError(f"{name}: {value:g} is out of range {'(' if above_lo else '['}{lo:g}, {hi:g}]")
    return value


def parse_range(seed: str, start: str, count: str, algorithm: str = "canonical",
                max_count: int | None = None) -> tuple[int, int, int]:
    """--seed, --start and --count: a non-empty range inside the algorithm's index space."""
    limit = INDEX_SPACES[algorithm]
    s = parse_int(seed, "--seed")
    a = parse_int(start, "--start", hi=limit - 1)
    n = parse_int(count, "--count", lo=1, hi=min(limit, max_count or limit))
    if a + n > limit:
        raise InputError(f"--start {a} + --count {n} runs past the end of the index space "
                         f"({index_space_text(algorithm)})")
    return s, a, n


_threads_warned: set[int] = set()


def parse_threads(text: str | None) -> int | None:
    """A --threads value in [1, 4096]; None (all cores, the runner's default) when not given.

    More threads than this machine's cores is allowed (they share the cores) but warned
    about, once per value, on stderr.
    """
    if text is None:
        return None
    n = parse_int(text, "--threads", lo=1, hi=4096)
    from .runner import default_threads

    cores = default_threads()
    if n > cores and n not in _threads_warned:
        _threads_warned.add(n)
        log.warning("--threads %d is more than the %d core(s) here: the threads share them, no faster", n, cores)
    return n


def add_range(p, count_help: str = "number of colors (1e9 form accepted)") -> None:
    """--seed, --start and --count, read back by parse_range."""
    p.add_argument("--seed", required=True, help=SEED_HELP)
    p.add_argument("--start", default="0", help="first index, decimal or 0x-hex (default 0)")
    p.add_argument("--count", required=True, help=count_help)


def backend_choices() -> list[str]:
    from .kernels import backend_names

    return ["auto", *backend_names()]


def add_threads_and_backend(p) -> None:
    """--threads and --backend, as every command that computes colors takes them."""
    p.add_argument("--threads", default=None, metavar="N",
                   help="worker threads (default: all cores here; more than the cores is warned about)")
    p.add_argument("--backend", default="auto", choices=backend_choices(),
                   help="where colors are computed (default auto: the first that passes its known-answer "
                        "self-check, fastest first; python is the slow reference)")


def add_cluster_argument(p, required: bool = False, dest: str = "cluster", help: str | None = None) -> None:
    """--cluster CLUSTER.json (alias --peers): a cluster file in exo's manual-discovery format."""
    p.add_argument("--cluster", "--peers", dest=dest, metavar="CLUSTER.json", required=required,
                   help=(help or "cluster file in exo's manual-discovery format") + " (--peers is the old name)")


def add_json(p, help: str = JSON_HELP) -> None:
    p.add_argument("--json", action="store_true", help=help)


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False) + "\n"


def print_json(obj: Any) -> None:
    sys.stdout.write(dump_json(obj))
    sys.stdout.flush()


# ---------------------------------------------------------------- output files

OUTPUT_POLICY = "written whole or not at all; an existing FILE is replaced"


def _same_file(a: str, b: str) -> bool:
    """One file, links and other spellings of the path included; also when one of them is yet to be
    written (a journal the run creates): then their resolved paths are compared."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(path: str | None, flag: str, *, inputs: dict[str, str | None] | None = None,
                 replace: bool = True, example: str = "out.json") -> None:
    """Refuse, before any work, an output file that cannot be written whole (errors.InputError).

    Refused: an empty name, "-", a folder, a missing folder or one that cannot be written into,
    something that is not a regular file (a device, a pipe), the same file as one of the
    command's ``inputs`` ({flag: path}; None and "-" are skipped), and with ``replace=False``
    (key files) any existing file.  Otherwise the command writes it atomically
    (jsonfile.atomic_write), replacing an existing file only once the work is done.
    ``example``: a file name to suggest inside a folder given by mistake.
    """
    if path is None:
        return
    if not path.strip():
        raise InputError(f"{flag}: an empty file name")
    if path == "-":
        raise InputError(f"{flag} -: a file name is needed here (- is not standard output for {flag})")
    if os.path.isdir(path):
        raise InputError(f"{flag} {path}: a folder, not a file; name a file in it "
                         f"(e.g. {os.path.join(path, example)})")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"{flag} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: cannot write into folder {folder} (permission denied)")
    if os.path.lexists(path):
        if not os.path.exists(path):
            raise InputError(f"{flag} {path}: a link to nothing; remove it or name another file")
        if not os.path.isfile(path):
            raise InputError(f"{flag} {path}: not a regular file (a device or a pipe); name a file")
        if not replace:
            raise InputError(f"{flag} {path}: exists (a key file is never overwritten); remove it or name another")
    for in_flag, in_path in (inputs or {}).items():
        if in_path and in_path != "-" and _same_file(path, in_path):
            raise InputError(f"{flag} {path}: the same file as {in_flag} {in_path}; writing it would destroy "
                             "the input: name another file")


# ---------------------------------------------------------------- numbers for people

def rate_text(count: int, seconds: float, how: str) -> str:
    """The plain-text timing line: "N colors in S s = R colors/s (how)"."""
    return (f"{human_count(count)} colors in {seconds:.3f} s = "
            f"{human_rate(count / max(seconds, 1e-9))} colors/s ({how})")


# ---------------------------------------------------------------- progress

def show_progress(as_json: bool = False) -> bool:
    """Progress bars only for a person: on a terminal, and never with --json."""
    return not as_json and sys.stderr.isatty()


class _NoProgress:
    def advance(self, n: int) -> None:  # noqa: D401 - same shape as the rich one
        pass

    def update_total(self, total: int) -> None:
        pass


class _RichProgress:
    def __init__(self, progress, task):
        self._p, self._t = progress, task

    def advance(self, n: int) -> None:
        self._p.advance(self._t, n)

    def update_total(self, total: int) -> None:
        self._p.update(self._t, total=total)


WIDTH = 80  # progress bars and tables never use more columns, however wide the terminal


def narrow_console(stderr: bool = False) -> Any:
    """A rich Console on stdout or stderr, at most WIDTH columns wide (less on a narrower terminal)."""
    from rich.console import Console

    c = Console(stderr=stderr)
    return c if c.width <= WIDTH else Console(stderr=stderr, width=WIDTH)


@contextlib.contextmanager
def progress(total: int, description: str, enabled: bool, unit: str = "colors",
             console: Any = None) -> Iterator[Any]:
    """A progress bar on stderr when enabled (a no-op otherwise): done/total in human counts
    (12.5G/100G), the rate (2.41G colors/s) and the time left; it fits in 80 columns."""
    if not enabled:
        yield _NoProgress()
        return
    from rich.progress import BarColumn, Progress, ProgressColumn, TaskProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class _Counts(ProgressColumn):
        def render(self, task):
            return Text(f"{human_count(task.completed)}/{human_count(task.total or 0)}")

    class _Rate(ProgressColumn):
        def render(self, task):
            seconds = task.finished_time if task.finished else task.elapsed  # finished: the average rate
            speed = (None if task.finished else task.speed) or (task.completed / seconds if seconds else 0.0)
            return Text(f"{human_rate(speed)} {unit}/s")

    cols = [TextColumn("{task.description}"), BarColumn(bar_width=None), TaskProgressColumn(), _Counts(),
            _Rate(), TimeRemainingColumn()]
    with Progress(*cols, console=console or narrow_console(stderr=True), transient=False) as p:
        yield _RichProgress(p, p.add_task(description, total=total))


@contextlib.contextmanager
def status(text: str, enabled: bool, console: Any = None) -> Iterator[None]:
    """A spinner with ``text`` on stderr while work of unknown length runs (when enabled)."""
    if not enabled:
        yield
        return
    with (console or narrow_console(stderr=True)).status(text):
        yield


# ---------------------------------------------------------------- tables

def print_table(headers: list[str], rows: list[list[str]], title: str, right: Iterable[str] = (),
                keep_whole: Iterable[str] = (), console: Any = None) -> None:
    """A table on stdout that stays readable at 80 columns: rich on a terminal, plain text otherwise.

    Columns in ``right`` are right-aligned (numbers); columns in ``keep_whole`` (names,
    fingerprints) are never cut; the others fold onto more lines rather than lose characters.
    """
    right, keep_whole = set(right), set(keep_whole)
    if console is None and not sys.stdout.isatty():
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

        def line(cells: list[str]) -> str:
            return "  ".join(c.rjust(w) if h in right else c.ljust(w)
                             for c, w, h in zip(cells, widths, headers, strict=True)).rstrip()

        print(title)
        print(line(headers))
        for r in rows:
            print(line(r))
        return
    from rich.table import Table

    t = Table(title=title, title_justify="left", pad_edge=False, collapse_padding=True)
    for h in headers:
        t.add_column(h, justify="right" if h in right else "left", no_wrap=h in keep_whole,
                     overflow="fold", min_width=len(h) if h in keep_whole else None)
    for r in rows:
        t.add_row(*r)
    (console or narrow_console()).print(t)


# ---------------------------------------------------------------- hints

_HINTS = (
    ("UNAVAILABLE", "is `exo-gay serve` running there, listening on that address and port?"),
    ("DEADLINE_EXCEEDED", "the miner answered too late: is it overloaded, or is --chunk-deadline too short?"),
    ("UNAUTHENTICATED", "do the coordinator and the miner use the same --key-file?"),
    ("PERMISSION_DENIED", "do the coordinator and the miner use the same --key-file?"),
)


def with_hint(reason: str) -> str:
    """A failure's reason (gRPC status text) with a hint at its usual cause, when one is known."""
    for code, hint in _HINTS:
        if code in reason:
            return f"{reason} ({hint})"
    return reason


# ---------------------------------------------------------------- colors

def hex_rgb(color: int) -> str:
    """A color's low 24 bits (spi.rgb) as "#rrggbb"."""
    r, g, b = rgb(color)
    return f"#{r:02x}{g:02x}{b:02x}"


def swatch(color: int) -> str:
    """A color's low 24 bits (spi.rgb) as six cells of 24-bit ANSI background."""
    r, g, b = rgb(color)
    return f"\x1b[48;2;{r};{g};{b}m      \x1b[0m"
