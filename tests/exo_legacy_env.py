"""A Python 3.12 venv of the real legacy exo (commit 5f18faec) with exo-gay installed, for the tests.

The recipe of docs/exo.md, offline: exo from the snapshot `exo-legacy-5f18faec.tar.gz` (`$EXO_GAY_EXO_SRC`,
else `../shared/exo-src/` beside the checkout, else the developers' shared folder) instead of its git URL,
exo's own `install_requires` (read from its setup.py)
with the one requirement that cannot be fetched here (tinygrad by git URL) taken from the index at its
nearest release (0.10.0), MLX for Linux CPU (mlx 0.25.2, the nearest Linux wheel to exo's macOS pin
0.22.0, and exo's mlx-lm 0.21.1), then this checkout of exo-gay (editable, so edits need no rebuild)
into the same venv.

It is built once into `${EXO_GAY_CACHE:-~/.cache/exo-gay}/exo-legacy-<key>` (the key covers the
snapshot, the pins, the Python, this checkout's path and its packaging files) and reused while complete
(a `COMPLETE` file written last). A file lock keeps two sessions from building the same folder at once.

Also made there, from the same snapshot: the seed's `exe` fork (exo's package copied as `exe`, its own
imports rewritten), on `fork_path` (put it on PYTHONPATH to import `exe`).

    python tests/exo_legacy_env.py        # build (or find) it and print where it is
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMIT = "5f18faec1758ffa79d6db1d463b4b8bca211a0a8"
DEFAULT_SRC = Path("/work/shared/exo-src/exo-legacy-5f18faec.tar.gz")
BUILD_VERSION = "3"  # bump when the recipe below changes
# exo's install_requires are used as they are, except tinygrad (a git URL); these pin what exo leaves open
# or names only for macOS (mlx), the same constraints ../shared/exo-real uses.
CONSTRAINTS = """\
protobuf==5.28.1
grpcio==1.70.0
grpcio-tools==1.70.0
numpy==2.0.0
transformers==4.46.3
mlx==0.25.2
mlx-lm==0.21.1
tinygrad==0.10.0
"""
TINYGRAD = "tinygrad==0.10.0"  # exo pins tinygrad at git ec120ce6, between 0.10.0 and 0.10.1
MLX_LINUX = ["mlx==0.25.2", "mlx-lm==0.21.1"]


@dataclass(frozen=True)
class LegacyExo:
    root: Path          # the cache folder
    python: Path        # the venv's python (exo, exo-gay, MLX)
    exo_src: Path       # exo's unpacked tree (setup.py, exo/)
    fork_path: Path     # a folder holding the `exe` package

    @property
    def bin(self) -> Path:
        return self.python.parent

    def env(self, fork: bool = False, **extra: str) -> dict[str, str]:
        """os.environ for a process of this venv, without exo-gay's own variables from outside."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("EXO_GAY_") and k not in ("EXO_PARTITIONING_STRATEGY", "PYTHONPATH",
                                                              "VIRTUAL_ENV", "PYTHONHOME")}
        env.update(GRPC_VERBOSITY="error", PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        if fork:
            env["PYTHONPATH"] = str(self.fork_path)
        env.update(extra)
        return env

    def info(self) -> dict:
        return json.loads((self.root / "COMPLETE").read_text())


class Unavailable(Exception):
    """The one reason the real exo cannot be built here (the tests skip with it)."""


def snapshot() -> Path:
    """$EXO_GAY_EXO_SRC, else ../shared/exo-src/ beside the checkout, else the project's shared folder."""
    if os.environ.get("EXO_GAY_EXO_SRC"):
        cands = [Path(os.environ["EXO_GAY_EXO_SRC"])]
    else:
        cands = [ROOT.parent / "shared" / "exo-src" / DEFAULT_SRC.name, DEFAULT_SRC]
    for p in cands:
        if p.is_file():
            return p
    raise Unavailable(f"no legacy exo snapshot at {cands[0]} (set EXO_GAY_EXO_SRC to exo-legacy-5f18faec.tar.gz)")


def python312() -> Path:
    cands = [os.environ.get("EXO_GAY_PY312", "")]
    cands += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python")), reverse=True)
    cands += sorted(glob.glob("/root/.pyenv/versions/3.12*/bin/python"), reverse=True)
    cands += [shutil.which("python3.12") or ""]
    for c in cands:
        if c and os.access(c, os.X_OK):
            r = subprocess.run([c, "-c", "import sys, venv; print(sys.version_info[:2] == (3, 12))"],
                               capture_output=True, text=True)
            if r.stdout.strip() == "True":
                return Path(c)
    raise Unavailable("no Python 3.12 here (legacy exo needs it): set EXO_GAY_PY312 or install pyenv's 3.12")


def cache_dir() -> Path:
    return Path(os.environ.get("EXO_GAY_CACHE") or Path.home() / ".cache" / "exo-gay")


def _sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()[:16]


def key(src: Path, py: Path) -> str:
    packaging = b"".join((ROOT / f).read_bytes() for f in ("pyproject.toml", "setup.py") if (ROOT / f).exists())
    return _sha(BUILD_VERSION.encode(), src.read_bytes(), CONSTRAINTS.encode(), str(py.resolve()).encode(),
                str(ROOT).encode(), packaging)


def exo_requirements(setup_py: Path) -> list[str]:
    """exo's install_requires as its setup.py lists them, tinygrad's git URL replaced by its release."""
    tree = ast.parse(setup_py.read_text())
    reqs = next(ast.literal_eval(n.value) for n in ast.walk(tree) if isinstance(n, ast.Assign)
                and any(getattr(t, "id", "") == "install_requires" for t in n.targets))
    return [TINYGRAD if r.replace(" ", "").startswith("tinygrad@") else r for r in reqs]


IMPORT_RE = re.compile(r"\b(from|import)(\s+)exo\b(?=[\s.])")
STRING_RE = re.compile(r"""(?<=["'])exo\.(?=[a-z_])""")


def make_fork(exo_pkg: Path, dest: Path) -> None:
    """The `exe` fork: exo's package copied under the name exe, its imports of itself rewritten."""
    shutil.copytree(exo_pkg, dest, ignore=shutil.ignore_patterns("__pycache__"))
    for f in dest.rglob("*.py"):
        text = f.read_text()
        new = STRING_RE.sub("exe.", IMPORT_RE.sub(r"\1\2exe", text))
        if new != text:
            f.write_text(new)


def _run(cmd: list, log: Path, **kw) -> None:
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(map(str, cmd))}\n")
        out.flush()
        r = subprocess.run([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT, **kw)
    if r.returncode != 0:
        tail = "\n".join(x for x in log.read_text().splitlines() if "Location 'file://" not in x)[-3000:]
        raise RuntimeError(f"building legacy exo failed: {' '.join(map(str, cmd))}\n{tail}")


def _say(msg: str) -> None:
    print(f"exo_legacy_env: {msg}", file=sys.stderr, flush=True)


def build(d: Path, src: Path, py: Path) -> None:
    t0 = time.monotonic()
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    log = d / "build.log"
    _say(f"building legacy exo {COMMIT[:8]} + exo-gay in {d} (once; log {log})")
    with tarfile.open(src) as tar:
        tar.extractall(d / "src", filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(d / "src")
    exo_src = d / "src" / "exo"
    (d / "constraints.txt").write_text(CONSTRAINTS)
    reqs = exo_requirements(exo_src / "setup.py")
    (d / "exo-requirements.txt").write_text("\n".join(reqs) + "\n")
    venv = d / "venv"
    _run([py, "-m", "venv", venv], log)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    cwd = dict(cwd=d)  # never from a folder holding exo/ (it would shadow the installed exo)
    _run([*pip, "--no-deps", exo_src], log, **cwd)  # as a user's `pip install "exo @ git+..."` (not editable)
    mlx = MLX_LINUX if sys.platform.startswith("linux") else []  # exo's setup.py adds mlx on Apple
    _run([*pip, "-c", d / "constraints.txt", "-r", d / "exo-requirements.txt", *mlx], log, **cwd)
    extras = _extras_for_exo()
    _run([*pip, "-e", f"{ROOT}{extras}"], log, **cwd)  # as a user would: no constraints (pip check tests it)
    make_fork(exo_src / "exo", d / "fork" / "exe")
    freeze = subprocess.run([venv / "bin" / "python", "-m", "pip", "freeze"], capture_output=True, text=True,
                            cwd=d).stdout
    pins = {ln.split("==")[0].lower(): ln.split("==")[1] for ln in freeze.splitlines() if "==" in ln}
    info = {"commit": COMMIT, "snapshot": str(src), "python": str(py), "checkout": str(ROOT),
            "built_seconds": round(time.monotonic() - t0, 1),
            "versions": {k: pins.get(k) for k in ("mlx", "mlx-lm", "numpy", "protobuf", "grpcio", "tinygrad",
                                                    "transformers", "pydantic", "numba")}}
    (d / "COMPLETE").write_text(json.dumps(info, indent=1))
    _say(f"built in {info['built_seconds']} s")


def _extras_for_exo() -> str:
    """exo-gay's extra for the miner, where the package has one (the miner is opt-in on exo nodes)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: plain text is enough for a yes/no
        text = (ROOT / "pyproject.toml").read_text()
        return "[mine]" if re.search(r"^mine\s*=", text, re.M) else ""
    opt = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("optional-dependencies", {})
    return "[mine]" if "mine" in opt else ""


def prune(base: Path, keep: Path) -> None:
    """Remove this checkout's older builds (another key, same checkout) that no session holds."""
    for old in base.glob("exo-legacy-*"):
        if old == keep or not old.is_dir():
            continue
        try:
            if json.loads((old / "COMPLETE").read_text()).get("checkout") != str(ROOT):
                continue
        except (OSError, ValueError):
            continue
        with open(base / f"{old.name}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # being built or checked right now
            shutil.rmtree(old, ignore_errors=True)


def ensure() -> LegacyExo:
    """Find or build the venv; raises Unavailable (skip) or RuntimeError (a real failure)."""
    src, py = snapshot(), python312()
    base = cache_dir()
    d = base / f"exo-legacy-{key(src, py)}"
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f"{d.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (d / "COMPLETE").is_file():
                build(d, src, py)
                prune(base, keep=d)
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(lock, fcntl.LOCK_UN)
    return LegacyExo(root=d, python=d / "venv" / "bin" / "python", exo_src=d / "src" / "exo",
                     fork_path=d / "fork")


if __name__ == "__main__":
    try:
        e = ensure()
    except Unavailable as ex:
        print(f"unavailable: {ex}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps({"root": str(e.root), "python": str(e.python), **e.info()}, indent=1))


try:  # the session fixture, for test modules: `from exo_legacy_env import legacy_exo`
    import pytest

    @pytest.fixture(scope="session")
    def legacy_exo() -> LegacyExo:
        try:
            return ensure()
        except Unavailable as e:
            pytest.skip(str(e))
except ImportError:  # run as a script without pytest
    pass
