"""`exo-gay exo [--module exo.main|exe.main] -- <exo's own arguments>`: exo with the gay strategy.

Runs exo's main module as __main__ (what `python -m exo.main` does) after swapping its
hard-coded strategy class for the gay strategy; the miner on exo's gRPC server only with --miner.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..cliutil import examples
from ..errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "exo", help="run exo's node (exo.main or the exe fork) with the gay strategy",
        description=__doc__.splitlines()[0],
        epilog=examples("exo-gay exo -- --node-id causality --discovery-module manual \\",
                        "--discovery-config-path configs/cluster.example.json",
                        "# above: a node of the example cluster (exo's own arguments after --)",
                        "exo-gay exo --module exo.main --objective throughput -- --node-id hatchery"))
    p.add_argument("--module", default=None, metavar="MODULE",
                   help="exo's main module: exo.main or exe.main (default: exe.main if importable, else exo.main)")
    p.add_argument("--objective", default=None, choices=("latency", "throughput"), metavar="{latency,throughput}",
                   help="the strategy's objective: latency (least ms per token) or throughput (the fastest "
                        "slowest stage) (default: $EXO_GAY_OBJECTIVE or latency)")
    p.add_argument("--keep-all-nodes", default=None, action=argparse.BooleanOptionalAction,
                   help="give every node layers when memory allows (the strategy's default); "
                        "--no-keep-all-nodes lets the plan leave slow nodes out")
    p.add_argument("--miner", action="store_true",
                   help="also serve the miner on exo's gRPC port and measure a FLOPS figure for chips exo "
                        "does not list (the same as EXO_GAY_MINER=1; off by default)")
    p.add_argument("exo_args", nargs=argparse.REMAINDER, metavar="-- EXO_ARGS",
                   help="everything after -- goes to exo unchanged")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import exo_plugin

    exo_args = list(args.exo_args)
    if exo_args and exo_args[0] == "--":
        exo_args = exo_args[1:]
    module = args.module or exo_plugin.default_module()
    if module is None:
        raise InputError(missing_exo_line())
    if module not in exo_plugin.EXO_MODULES:
        raise InputError(f"--module {module!r}: expected one of {', '.join(exo_plugin.EXO_MODULES)}")
    if not exo_plugin.importable(module):
        raise InputError(f"--module {module}: not importable in this Python ({sys.executable}); "
                         + ("put the exe fork on this Python's path" if module == "exe.main" else fix_command()))
    if args.objective:
        os.environ[exo_plugin.ENV_OBJECTIVE] = args.objective
    if args.keep_all_nodes is not None:
        os.environ[exo_plugin.ENV_KEEP_ALL] = "1" if args.keep_all_nodes else "0"
    if args.miner:
        os.environ[exo_plugin.ENV_MINER] = "1"
    exo_plugin.run_exo(module, exo_args)
    return 0


EXO_GIT = "git+https://github.com/exo-explore/exo.git@5f18faec1758ffa79d6db1d463b4b8bca211a0a8"


def _exo_gay_source() -> str:
    """What `pip install` takes for exo-gay here: this checkout when it is one, else the package name."""
    from pathlib import Path

    here = Path(__file__).resolve().parents[2]
    return str(here) if (here / "pyproject.toml").is_file() else "exo-gay"


def fix_command() -> str:
    """The one command that puts legacy exo into this Python (docs/exo.md has the whole recipe)."""
    mlx = " mlx==0.25.2 mlx-lm==0.21.1" if sys.platform.startswith("linux") else ""
    exo = f"'exo @ {EXO_GIT}'{mlx}"
    if sys.version_info[:2] < (3, 12):
        return ("legacy exo needs Python 3.12: python3.12 -m venv exo-venv && "
                f"exo-venv/bin/pip install {exo} {_exo_gay_source()} (docs/exo.md)")
    return f"install it: {sys.executable} -m pip install {exo} (docs/exo.md)"


def missing_exo_line() -> str:
    py = f"Python {sys.version_info[0]}.{sys.version_info[1]} ({sys.executable})"
    return f"neither exe.main nor exo.main is importable in {py}; {fix_command()}"
