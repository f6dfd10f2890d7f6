import argparse
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout: tests never depend on the cwd
CONFIGS = os.path.join(ROOT, "configs")


def parsers(parser: argparse.ArgumentParser, seen=None):
    """Every parser under the top one (sub-commands and their sub-commands), once each."""
    seen = set() if seen is None else seen
    if id(parser) in seen:
        return
    seen.add(id(parser))
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from parsers(sub, seen)


def run_cli(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """Run `python -m exo_gay ARGS` as a user would, in a real process."""
    return subprocess.run([sys.executable, "-m", "exo_gay", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=kw.pop("cwd", ROOT), **kw)


@pytest.fixture
def cli():
    return run_cli
