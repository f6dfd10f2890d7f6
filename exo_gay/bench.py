"""`exo-gay bench`: what this machine does with our own kernels, measured, and how busy it was.

Rows: colors per second per backend, algorithm and thread count, and per color game; each
figure is one timed run after a calibration run sized so the timed run lasts about
``seconds``.  Start-up: the wall and CPU time from a fresh process's start to its first
color, with the compiled kernels cached and with an empty cache.  The machine: CPU model,
its vector flags, the kernel's compile target, and the load other processes put on it
while the bench ran (load average, their share of the cores, hypervisor steal), since a
figure taken on a busy machine is low and a grade made from it unreliable.

Comparisons with hand-written C loops are not the library's business: they live with their
C sources in the repository's ``benchmarks/`` (``benchmarks/kernel_vs_c.py``), and
``exo-gay bench`` runs them when it runs from a checkout (see docs/kernel.md).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any, Callable

from .gayhy import ALGORITHMS, INDEX_SPACES
from .hostinfo import cpu_flags, cpu_model
from .kernels import BackendRefused, backend_names, get_backend
from .reductions import XOR
from .registry import get_reduction, reduction_names
from .runner import default_threads, reduce_range
from .spi import IHOR_SEED

SEED = IHOR_SEED
BUSY_SHARE = 0.10  # other processes' share of the cores above which the machine counts as busy
COMPARISON = Path(__file__).resolve().parent.parent / "benchmarks" / "kernel_vs_c.py"
COMPARISON_HINT = ("the side-by-side rows against hand-written C loops run from a checkout: "
                   "git clone the repository, then `python benchmarks/kernel_vs_c.py` (docs/kernel.md)")


# --- the machine and its load ------------------------------------------------------------

def machine() -> dict[str, Any]:
    """CPU model, cores, vector flags, versions, and the target the compiled kernel is built for."""
    flags = cpu_flags()
    out: dict[str, Any] = {"cpu": cpu_model(), "cores": default_threads(),
                           "system": f"{platform.system()} {platform.machine()}", "python": platform.python_version(),
                           "vector_flags": sorted(f for f in flags if f.startswith(("avx", "sse4", "fma", "neon",
                                                                                   "asimd", "sve")))}
    try:
        from .kernels import llvm_cpu

        name, features = llvm_cpu.target()
        out["kernel_target"] = {"cpu": name, "avx512": "+avx512f" in features.split(","),
                                "avx2": "+avx2" in features.split(",")}
    except ImportError:
        out["kernel_target"] = None
    return out


def _cpu_jiffies() -> tuple[int, int, int] | None:
    """(busy, total, steal) jiffies of all CPUs since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    steal = fields[7] if len(fields) > 7 else 0
    total = sum(fields[:8])
    return total - idle - steal, total, steal


class LoadMeter:
    """How much of this machine other processes used between ``start()`` and ``report()``."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.jiffies0 = _cpu_jiffies()
        self.ours0 = _own_cpu_seconds()
        self.loadavg0 = _loadavg()

    def report(self) -> dict[str, Any]:
        """loadavg at start/end, others' and steal's share of all cores, and the verdict ``busy``."""
        out: dict[str, Any] = {"loadavg_start": self.loadavg0, "loadavg_end": _loadavg(), "cores": default_threads()}
        end = _cpu_jiffies()
        if self.jiffies0 and end:
            tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
            busy, total, steal = (b - a for a, b in zip(self.jiffies0, end, strict=True))
            ours = (_own_cpu_seconds() - self.ours0) * tick
            out["others_share"] = round(max(0.0, busy - ours) / max(total, 1), 3)
            out["steal_share"] = round(steal / max(total, 1), 3)
            out["busy"] = out["others_share"] + out["steal_share"] > BUSY_SHARE
        else:  # no /proc/stat (macOS): the load average before we started, per core
            la = out["loadavg_start"]
            out["busy"] = la is not None and la / out["cores"] > BUSY_SHARE
        out["seconds"] = round(time.monotonic() - self.t0, 1)
        return out


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def load_text(load: dict) -> str:
    """One line: how busy the machine was while measuring, and what that means for the figures."""
    parts = [f"load average {load['loadavg_start']} -> {load['loadavg_end']} on {load['cores']} cores"]
    if "others_share" in load:
        parts.append(f"other processes used {load['others_share']:.0%} of the cores, steal {load['steal_share']:.0%}")
    verdict = ("BUSY machine: figures are low and any grade from them is unreliable" if load["busy"]
               else "quiet machine")
    return f"{verdict} ({'; '.join(parts)})"


# --- our kernels ------------------------------------------------------------------------

def _timed(fn: Callable[[int], Any], count: int) -> float:
    t0 = time.perf_counter()
    fn(count)
    return time.perf_counter() - t0


def measure(fn: Callable[[int], Any], seconds: float, first: int = 1 << 22) -> dict:
    """Colors per second of fn(count): warm up, calibrate, then one run of about ``seconds``."""
    fn(first)  # the first call may compile or self-check a kernel: never time it
    dt = _timed(fn, first)
    count = first
    while dt < seconds / 20:  # grow until the calibration itself is long enough to trust
        count *= 8
        dt = _timed(fn, count)
    count = max(first, int(count * seconds / max(dt, 1e-9)))
    dt = _timed(fn, count)
    return {"count": count, "seconds": round(dt, 4), "colors_per_second": round(count / dt)}


def _reduce_any(count: int, algorithm: str, threads: int, backend) -> None:
    # gayhy-turbo32 indices end at 2**32: a longer measurement repeats the space from 0.
    limit = INDEX_SPACES[algorithm]
    while count > 0:
        n = min(count, limit)
        reduce_range(SEED, 0, n, algorithm, threads=threads, backend=backend)
        count -= n


def plan(threads: list[int], with_games: bool) -> list[tuple[str, str, int]]:
    """Every (backend, what, threads) row to measure, in order (for the progress count)."""
    steps = []
    for name in backend_names():
        for algorithm in ALGORITHMS:
            for t in ([1] if name == "python" else threads):  # the reference is ~1e6/s: one short row
                steps.append((name, algorithm, t))
    if with_games:
        steps += [("auto", f"game {spec}", t) for spec in reduction_names() if spec != XOR.name for t in threads]
    return steps


def measure_row(backend: str, what: str, threads: int, seconds: float) -> dict[str, Any]:
    """One row of the table: a backend's algorithm (or a game, on the fastest backend) on ``threads`` cores."""
    if what.startswith("game "):
        red = get_reduction(what[5:])
        be = get_backend("auto", red.family)

        def fn(n):
            return reduce_range(SEED, 0, n, "canonical", reduction=red, threads=threads, backend=be)
        return {"backend": be.name, "what": f"game {red.name}", "threads": threads, **measure(fn, seconds)}
    try:
        be = get_backend(backend)
    except BackendRefused as e:
        return {"backend": backend, "what": what, "threads": threads, "error": str(e)}
    slow = backend == "python"

    def run(n):
        return _reduce_any(n, what, threads, be)
    m = measure(run, min(seconds, 0.3) if slow else seconds, first=1 << (10 if slow else 22))
    return {"backend": backend, "what": what, "threads": threads, **m}


# --- start-up -----------------------------------------------------------------------------

FIRST_COLOR = ("import time\n"
               "from exo_gay.runner import reduce_range\n"
               "reduce_range({seed}, 0, 1)\n"
               "print(time.monotonic())\n")


def _child_seconds(argv: list[str], env: dict | None) -> tuple[float, float, str]:
    """(wall from spawn to exit, CPU seconds, stdout) of one child process."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} ... failed: {err.strip()[-300:]}")
    return wall, usage.ru_utime + usage.ru_stime, out


def first_color(env: dict | None = None) -> dict[str, float]:
    """A fresh interpreter that imports the runner and reduces one color (the known-answer
    self-check included): seconds from spawn to its first color, and its CPU seconds."""
    t0 = time.monotonic()
    _wall, cpu, out = _child_seconds([sys.executable, "-c", FIRST_COLOR.format(seed=SEED)], env)
    return {"first_color_seconds": round(float(out.split()[-1]) - t0, 3), "cpu_seconds": round(cpu, 3)}


def command_seconds(env: dict | None = None) -> dict[str, float]:
    """The whole `exo-gay fingerprint --count 1 --json` process: wall and CPU seconds."""
    wall, cpu, _ = _child_seconds([sys.executable, "-m", "exo_gay", "fingerprint", "--seed", str(SEED),
                                   "--count", "1", "--json"], env)
    return {"wall_seconds": round(wall, 3), "cpu_seconds": round(cpu, 3)}


def startup(repetitions: int = 5) -> dict[str, Any]:
    """Start-up on a warm cache (medians of ``repetitions``) and with an empty one (compiling)."""
    first_color()  # fills the cache if it is empty
    warm = [first_color() for _ in range(repetitions)]
    cmd = [command_seconds() for _ in range(repetitions)]
    with tempfile.TemporaryDirectory() as empty:
        cold = first_color(dict(os.environ, EXO_GAY_CACHE=empty))

    def med(rows, key):
        return round(median(r[key] for r in rows), 3)
    return {"warm": {"first_color_seconds": med(warm, "first_color_seconds"),
                     "first_color_best": min(r["first_color_seconds"] for r in warm),
                     "cpu_seconds": med(warm, "cpu_seconds"), "repetitions": repetitions},
            "command": {"wall_seconds": med(cmd, "wall_seconds"), "cpu_seconds": med(cmd, "cpu_seconds")},
            "cold": cold}


# --- the whole bench ------------------------------------------------------------------------

def comparison_module():
    """benchmarks/kernel_vs_c.py when this package runs from a checkout, else None."""
    if not COMPARISON.is_file():
        return None
    import importlib.util

    spec = importlib.util.spec_from_file_location("exo_gay_kernel_vs_c", COMPARISON)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_bench(seconds: float = 1.0, threads: list[int] | None = None, with_games: bool = True,
              with_c: bool = True, c_count: int = 20_000_000_000, say: Callable[[str], None] = lambda m: None
              ) -> dict[str, Any]:
    """Every row, start-up, and (from a checkout, unless ``with_c`` is False) the C comparison."""
    all_cores = default_threads()
    threads = threads or sorted({1, 2, all_cores} if all_cores >= 2 else {1})
    load = LoadMeter()
    report: dict[str, Any] = {"machine": machine(), "seconds_per_measurement": seconds, "rows": []}
    steps = plan(threads, with_games)
    for i, (backend, what, t) in enumerate(steps, 1):
        say(f"[{i}/{len(steps) + 1}] {backend} {what}, {t} thread(s)")
        report["rows"].append(measure_row(backend, what, t, seconds))
    say(f"[{len(steps) + 1}/{len(steps) + 1}] start-up: fresh processes, warm cache and empty cache")
    report["startup"] = startup()
    report["load"] = load.report()
    if not with_c:
        report["comparison"] = {"skipped": "--no-c"}
        return report
    try:
        module = comparison_module()
    except ImportError as e:  # the comparison runs our compiled kernel: llvmlite must be here
        report["comparison"] = {"skipped": f"the compiled kernel is not available here ({e})"}
        return report
    if module is None:
        report["comparison"] = {"skipped": COMPARISON_HINT}
        return report
    report["comparison"] = module.compare(count=c_count, start=report["startup"], say=say)
    return report


def render_bench(report: dict) -> None:
    from rich.table import Table

    from .cliutil import narrow_console
    from .units import human_count, human_rate

    console = narrow_console()
    m = report["machine"]
    table = Table(title=f"exo-gay bench: {m['cpu']}, {m['cores']} cores, {m['system']}, Python {m['python']}")
    for col in ("backend", "what", "threads", "colors/s", "count", "seconds"):
        table.add_column(col, justify="right" if col in ("threads", "colors/s", "count", "seconds") else "left",
                         overflow="fold")  # at 80 columns a long name wraps, never loses its end
    for r in report["rows"]:
        if "error" in r:
            table.add_row(r["backend"], r["what"], str(r["threads"]), "-", "-", r["error"])
            continue
        table.add_row(r["backend"], r["what"], str(r["threads"]), human_rate(r["colors_per_second"]),
                      human_count(r["count"]), f"{r['seconds']:.3f}")
    console.print(table)
    console.print(f"CPU flags: {' '.join(m['vector_flags']) or 'none'}; compiled kernel's target: "
                  f"{_target_text(m.get('kernel_target'))}")
    s = report["startup"]
    console.print(f"start-up, fresh process to first color: {s['warm']['first_color_seconds']} s wall "
                  f"(best {s['warm']['first_color_best']} s, {s['warm']['cpu_seconds']} s CPU; cached kernels), "
                  f"{s['cold']['first_color_seconds']} s with an empty cache; whole `fingerprint --count 1`: "
                  f"{s['command']['wall_seconds']} s wall, {s['command']['cpu_seconds']} s CPU")
    console.print(load_text(report["load"]), style="bold red" if report["load"]["busy"] else None, markup=False)
    comparison = report.get("comparison", {})
    if isinstance(comparison.get("skipped"), str):  # the whole comparison (a dict there: loops it left out)
        console.print(f"C comparison skipped: {comparison['skipped']}", markup=False)
    else:
        for line in comparison.get("lines", []):
            console.print(line, markup=False)


def _target_text(t: dict | None) -> str:
    if not t:
        return "none (llvmlite not installed)"
    return f"{t['cpu']} ({'AVX-512' if t['avx512'] else 'AVX2' if t['avx2'] else 'no AVX2'})"
