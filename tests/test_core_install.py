"""The light core: a plain `pip install` has no numba, llvmlite or zenoh, and what it serves works.

The slow test builds a fresh virtual environment in a temporary folder, installs the checkout
with no extras, and runs the real console script there: `partition` and `fingerprint` work,
the commands whose extra is missing say which in one line and exit 2.  The fast test checks,
in this (full) environment, that the core path imports none of the optional libraries.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from exo_gay.kernels import numpy_cpu
from exo_gay.kernels.reference import PythonReference

ROOT = Path(__file__).resolve().parent.parent
OPTIONAL = ("numba", "llvmlite", "grpc", "google.protobuf", "zenoh", "nacl")
CORE_MODULES = ("exo_gay.spi", "exo_gay.strategies.gay_strategy", "exo_gay.strategies.planner",
                "exo_gay.strategies.model_costs", "exo_gay.exo_plugin", "exo_gay.fingerprint", "exo_gay.bundle",
                "exo_gay.runner", "exo_gay.games", "exo_gay.cli", "exo_gay.commands.partition",
                "exo_gay.commands.fingerprint", "exo_gay.kernels.numpy_cpu")

GOLDEN, M1, M2, MASK = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, (1 << 64) - 1


def splitmix_xor(seed: int, start: int, count: int) -> int:
    """XOR of SplitMix64's outputs from state seed + start*GOLDEN, written from its definition."""
    state, acc = (seed + start * GOLDEN) & MASK, 0
    for _ in range(count):
        state = (state + GOLDEN) & MASK
        z = state
        z = ((z ^ (z >> 30)) * M1) & MASK
        z = ((z ^ (z >> 27)) * M2) & MASK
        acc ^= z ^ (z >> 31)
    return acc


def test_core_path_imports_no_optional_library():
    code = (f"import sys\nfor m in {CORE_MODULES!r}: __import__(m)\n"
            f"import exo_gay.cli; exo_gay.cli.build_parser()\n"
            f"print(sorted(m for m in {OPTIONAL!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_strategy_inside_exo_builds_no_schemas():
    code = ("import sys, exo_gay.strategies.gay_strategy, exo_gay.exo_plugin\n"
            "print('pydantic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("seed,start,count", [(7202985, 0, 200_001), (1, (1 << 64) - 70_000, 70_000),
                                              (0x6761795F636F6C6F, 12345, 65_537)])
def test_numpy_backend_matches_splitmix(seed, start, count):
    assert numpy_cpu.NumpyCPU().xor_piece(seed, start, count, "canonical") == splitmix_xor(seed, start, count)


def test_numpy_games_match_the_reference():
    be, ref = numpy_cpu.NumpyCPU(), PythonReference()
    for args in [(7202985, 0, 70_000), (3, (1 << 64) - 66_000, 66_000)]:
        assert be.furthest_piece(*args) == ref.furthest_piece(*args)
        assert be.near_fixed_piece(*args) == ref.near_fixed_piece(*args)
    assert be.furthest_piece(1, 5, 0) is None


def _run(bin_dir: Path, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "NUMBA"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([str(bin_dir / args[0]), *args[1:]], capture_output=True, text=True, cwd=cwd,
                          env=env, check=check, timeout=900)


@pytest.mark.slow
def test_plain_install_is_light_and_serves_the_core(tmp_path):
    env_dir, src = tmp_path / "venv", tmp_path / "src"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    # a copy of the checkout: setuptools builds in the source folder, and the checkout stays clean
    skip = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
                                  ".hypothesis")
    shutil.copytree(ROOT, src, ignore=skip)
    _run(bin_dir, "python", "-m", "pip", "install", "-q", str(src), cwd=tmp_path)
    listed = _run(bin_dir, "python", "-m", "pip", "list", "--format=freeze", cwd=tmp_path).stdout.lower()
    names = {line.split("==")[0] for line in listed.split()}
    assert "exo-gay" in names and "numpy" in names
    assert not names & {"numba", "llvmlite", "eclipse-zenoh", "grpcio", "pynacl", "protobuf"}, names

    part = _run(bin_dir, "exo-gay", "partition", "--model", "llama-3.2-1b",
                "--cluster", str(ROOT / "configs" / "cluster.example.json"), cwd=tmp_path, check=False)
    assert part.returncode == 0, part.stderr
    assert "llama-3.2-1b" in part.stdout

    fp = _run(bin_dir, "exo-gay", "fingerprint", "--seed", "7202985", "--count", "1e6", cwd=tmp_path, check=False)
    assert fp.returncode == 0, fp.stderr
    assert f"0x{splitmix_xor(7202985, 0, 1_000_000):016x}" in fp.stdout

    game = _run(bin_dir, "exo-gay", "game", "furthest", "--seed", "7202985", "--count", "1e5", "--json", cwd=tmp_path,
                check=False)
    assert game.returncode == 0, game.stderr
    assert f"0x{PythonReference().furthest_piece(7202985, 0, 100_000)[2]:016x}" in game.stdout

    for argv, extra in [(("mine", "--bundle", str(ROOT / "configs" / "bundle.example.json")), "mine"),
                        (("keygen", "--out", str(tmp_path / "node.key")), "mine"),
                        (("serve", "--node-id", "a", "--port", "0"), "mine"),
                        (("fingerprint", "--seed", "1", "--count", "10", "--backend", "numba-cpu"), "fast"),
                        (("nashprop", "--local", "3", "--total", "1e6"), "nashprop")]:
        r = _run(bin_dir, "exo-gay", *argv, cwd=tmp_path, check=False)
        assert r.returncode == 2, (argv, r.stdout, r.stderr)
        assert len(r.stderr.splitlines()) == 1, r.stderr
        assert f"[{extra}]" in r.stderr and f"pip install 'exo-gay[{extra}]'" in r.stderr, r.stderr
    assert not (tmp_path / "node.key").exists()

    # bench measures what is here: the numpy backend, and a row saying the compiled one needs [fast]
    bench = _run(bin_dir, "exo-gay", "bench", "--seconds", "0.1", "--json", cwd=tmp_path, check=False)
    assert bench.returncode == 0, bench.stderr
    rows = json.loads(bench.stdout)["rows"]
    assert any(r["backend"] == "numpy" and "error" not in r for r in rows), rows
    assert any(r["backend"] == "numba-cpu" and "exo-gay[fast]" in r.get("error", "") for r in rows), rows

    shared = _run(bin_dir, "exo-gay", "keygen", "--shared", "--out", str(tmp_path / "cluster.key"), cwd=tmp_path,
                  check=False)
    assert shared.returncode == 0, shared.stderr
    assert len((tmp_path / "cluster.key").read_text().strip()) == 64
