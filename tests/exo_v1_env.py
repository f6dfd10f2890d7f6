"""exo v1's real code in its own Python 3.13 venv, built once from the snapshot and reused.

The venv lives in ${EXO_GAY_CACHE:-~/.cache/exo-gay}/exo-v1-<key>, keyed by the snapshot's
bytes, the pins below and the Python; `.complete` is written last, so a half-built folder
is rebuilt. exo-gay (this checkout) is installed into it (editable, no dependencies: the
venv already has numpy) and re-pointed when another checkout uses the same cache.
The recipe is ../shared/exo-src/README.md (beside the checkout): exo's placement, master, API and router run
under Python 3.13 with these PyPI packages (versions from exo's uv.lock; anyio 4.16 breaks
exo); exo's Rust module exo_rs cannot be built here, and tests/exo_v1_stub provides it.

Skips (one reason) only where no Python 3.13 or no snapshot exists; any other failure of
the build fails the tests that need it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STUB_DIR = Path(__file__).resolve().parent / "exo_v1_stub"
PY313_CANDIDATES = ("/root/.pyenv/versions/3.13.0/bin/python",)
SNAPSHOT_GLOB = "exo-v1-*.tar.gz"
DEFAULT_SRC = Path("/work/shared/exo-src")

# exo v1's runtime needs for master, placement, API and router, pinned as its uv.lock pins them,
# and exo's test tools (its own placement tests run in this venv).
PINS = (
    "aiofiles==25.1.0", "aiohttp==3.13.3", "anyio==4.11.0", "fastapi==0.128.0", "filelock==3.20.3",
    "httpx==0.28.1", "huggingface-hub==1.8.0", "hypercorn==0.18.0", "loguru==0.7.3", "msgspec==0.20.0",
    "openai-harmony==0.0.8", "psutil==7.2.1", "pydantic==2.12.5", "pytest==9.0.2", "pytest-asyncio==1.3.0",
    "pytest-env==1.2.0", "python-daemon==3.1.2", "python-multipart==0.0.21", "rustworkx==0.17.1",
    "tiktoken==0.12.0", "tomlkit==0.14.0", "transformers==5.6.2", "zstandard==0.25.0",
)
EXO_PLACEMENT_TESTS = ("src/exo/master/tests/test_placement.py", "src/exo/master/tests/test_placement_utils.py",
                       "src/exo/master/tests/test_topology.py")


def python313() -> str | None:
    env = os.environ.get("EXO_GAY_PY313")
    for c in ((env,) if env else ()) + PY313_CANDIDATES:
        if c and os.access(c, os.X_OK):
            return c
    return None


def source_dirs() -> list[Path]:
    """$EXO_GAY_EXO_SRC, else ../shared/exo-src/ beside the checkout (where CI lays shared/), else the
    project's shared folder on the developers' machines."""
    if os.environ.get("EXO_GAY_EXO_SRC"):
        return [Path(os.environ["EXO_GAY_EXO_SRC"])]
    return [REPO.parent / "shared" / "exo-src", DEFAULT_SRC]


def snapshot() -> Path | None:
    for src in source_dirs():
        found = sorted(src.glob(SNAPSHOT_GLOB)) if src.is_dir() else []
        if found:
            return found[-1]
    return None


def cache_root() -> Path:
    return Path(os.environ.get("EXO_GAY_CACHE") or Path.home() / ".cache" / "exo-gay")


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ExoV1:
    root: Path  # the cache folder
    python: Path  # the venv's interpreter
    exo_dir: Path  # the unpacked snapshot (exo/)
    cards_dir: Path  # exo's resources/inference_model_cards
    build_seconds: float  # 0.0 when reused

    def env(self, home: Path) -> dict[str, str]:
        """The environment exo needs: a writable HOME, a dashboard folder, EXO_TESTS=1, the stub exo_rs."""
        dash = home / "dashboard"
        dash.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env.update(HOME=str(home), EXO_DASHBOARD_DIR=str(dash), EXO_TESTS="1", PYTHONPATH=str(STUB_DIR),
                   PYTHONDONTWRITEBYTECODE="1", EXO_OFFLINE="true", HF_HUB_OFFLINE="1")
        return env

    def run(self, args: list[str], home: Path, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.python), *args], env=self.env(home), capture_output=True, text=True,
                              timeout=timeout, **kw)


def _pip(python: Path, *args: str, cwd: Path | None = None) -> None:
    r = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
                       capture_output=True, text=True, cwd=cwd, timeout=1800)
    if r.returncode != 0:
        tail = "\n".join(r.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"pip install {' '.join(args)} failed:\n{tail}")


def _install_checkout(python: Path, root: Path) -> None:
    """exo-gay from this checkout, editable; redone when the venv points at another checkout."""
    marker = root / "exo-gay-checkout"
    if marker.is_file() and marker.read_text() == str(REPO):
        return
    _pip(python, "--no-deps", "-e", str(REPO))
    marker.write_text(str(REPO))


def build(py: str, snap: Path) -> ExoV1:
    version = subprocess.run([py, "-c", "import sys; print(sys.version)"], capture_output=True, text=True,
                             check=True).stdout.strip()
    key = hashlib.sha256(json.dumps([_digest(snap), PINS, version]).encode()).hexdigest()[:16]
    base = cache_root()
    base.mkdir(parents=True, exist_ok=True)
    root = base / f"exo-v1-{key}"
    venv, exo_dir = root / "venv", root / "exo"
    t0 = time.monotonic()
    built = False
    with open(base / f"exo-v1-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session building the same key: wait for it
        if not (root / ".complete").is_file():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            with tarfile.open(snap) as tf:
                members = [m for m in tf.getmembers() if m.name.startswith(("exo/src/", "exo/resources/", "exo/LICENSE",
                                                                            "exo/pyproject.toml", "exo/README.md"))]
                tf.extractall(root, members=members, filter="data")
            subprocess.run([py, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=600)
            python = venv / "bin" / "python"
            _pip(python, *PINS)
            _pip(python, "--no-deps", "-e", str(exo_dir))
            (root / ".complete").write_text(json.dumps({"snapshot": str(snap), "pins": PINS, "python": version}))
            built = True
        _install_checkout(venv / "bin" / "python", root)
    return ExoV1(root, venv / "bin" / "python", exo_dir, exo_dir / "resources" / "inference_model_cards",
                 time.monotonic() - t0 if built else 0.0)


def skip_reason() -> str | None:
    if python313() is None:
        return f"exo v1 needs Python 3.13: none at {', '.join(PY313_CANDIDATES)} (or $EXO_GAY_PY313)"
    if snapshot() is None:
        src = source_dirs()[0]
        return f"no exo v1 snapshot ({SNAPSHOT_GLOB}) in {src} ($EXO_GAY_EXO_SRC)"
    return None


@pytest.fixture(scope="session")
def exo_v1() -> ExoV1:
    why = skip_reason()
    if why:
        pytest.skip(why)
    env = build(python313(), snapshot())  # type: ignore[arg-type]
    if env.build_seconds:
        sys.stderr.write(f"\nexo v1 venv built in {env.build_seconds:.0f} s at {env.root}\n")
    return env


@pytest.fixture(scope="session")
def exo_v1_cards() -> Path:
    """exo v1's card folder from the snapshot (no venv needed: read with tomllib)."""
    snap = snapshot()
    if snap is None:
        pytest.skip(skip_reason() or "no snapshot")
    out = cache_root() / f"exo-v1-cards-{_digest(snap)[:16]}"
    if not (out / ".complete").is_file():
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        with tarfile.open(snap) as tf:
            tf.extractall(out, members=[m for m in tf.getmembers()
                                        if m.name.startswith("exo/resources/inference_model_cards/")], filter="data")
        (out / ".complete").write_text(str(snap))
    return out / "exo" / "resources" / "inference_model_cards"
