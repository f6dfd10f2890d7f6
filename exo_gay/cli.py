"""`exo-gay`: one console script, one module per command under exo_gay/commands/.

Each command module exposes ``register(subparsers)``; a command's function returns the exit
status.  The library's errors become exit statuses here, and only here: errors.InputError is
one line on stderr and exit 2, errors.RunFailed exit 1, and so does an OSError the system raises
mid-run (a full disk: one line, the traceback with -vv; a closed pipe: nothing).  Every message
names the command it comes from (``exo-gay bundle make: error: ...``); ``exo-gay: error:`` only
before one is known.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from . import __version__
from .cliutil import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, Parser, examples
from .errors import ExoGayError, InputError

DESCRIPTION = "Verifiable color mining, and the `gay` layer-partitioning strategy for exo."
EPILOG = examples(
    "exo-gay fingerprint --seed 7202985 --count 1e9",
    "exo-gay bundle make --seed 7202985 --total 3e9 --hosts a,b,c -o bundle.json",
    "exo-gay mine --bundle bundle.json",
    "# every command has its own help and examples:",
    "exo-gay bundle make --help",
)
# Order is the order of `exo-gay --help`.
COMMAND_MODULES = ("fingerprint", "colors", "gayhy", "bench", "bundles", "mine", "games", "partition", "exo",
                   "nashprop", "place", "doctor")


class _Formatter(logging.Formatter):
    prog = "exo-gay"

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        msg = msg[len("exo-gay: "):] if msg.startswith("exo-gay: ") else msg  # the plugin's own prefix
        return f"{self.prog}: {record.levelname.lower()}: {msg}"


def setup_logging(verbosity: int, prog: str = "exo-gay") -> None:
    """One stderr handler for the package's loggers: warnings, -v info, -vv debug."""
    logger = logging.getLogger("exo_gay")
    for h in list(logger.handlers):
        if getattr(h, "_exo_gay_cli", False):
            logger.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    formatter = _Formatter()
    formatter.prog = prog
    handler.setFormatter(formatter)
    handler._exo_gay_cli = True  # type: ignore[attr-defined]
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler.setLevel(level)  # its own level: a handler added later (exo's node log) may want more
    logger.addHandler(handler)
    logger.setLevel(level)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="exo-gay", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"exo-gay {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more on stderr (-v: progress of the work, -vv: debugging)")
    # sub-commands (and theirs, which inherit the class) name the top parser's options as such
    commands_class = type("CommandParser", (Parser,), {"global_options": tuple(parser._option_string_actions)})
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", parser_class=commands_class)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"exo_gay.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv:  # a first try: the overview, not an error about a missing COMMAND
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    prog = getattr(args, "command_prog", None) or f"exo-gay {args.command}"
    setup_logging(args.verbose, prog)
    try:
        return int(args.func(args) or 0)
    except InputError as e:
        sys.stderr.write(f"{prog}: error: {e}\n")
        return EXIT_USAGE
    except ExoGayError as e:  # errors.RunFailed, and any other failure the library names
        sys.stderr.write(f"{prog}: error: {e}\n")
        return EXIT_FAILED
    except BrokenPipeError:  # `exo-gay colors ... | head`: the reader left; say nothing, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return EXIT_FAILED
    except OSError as e:  # the system refused mid-run (disk full, a folder removed): one line, not a traceback
        logging.getLogger("exo_gay.cli").debug("the failure in full", exc_info=True)
        where = f"{e.filename}: " if e.filename else ""
        sys.stderr.write(f"{prog}: error: {where}{e.strerror or e}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
