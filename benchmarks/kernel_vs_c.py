"""Our fingerprint kernel beside hand-written C loops, side by side, with the targets of issue 20 graded.

    python benchmarks/kernel_vs_c.py [--count 2e10] [--repetitions 3] [--json]

`exo-gay bench` runs this too when it runs from a checkout.  The C loops are in
benchmarks/c/ (gcc builds them here, with OpenMP): a hand AVX-512 intrinsics loop (8 lanes,
vpmullq, 4 accumulators, vpternlogq), a hand AVX2 loop (4 lanes, vpmuludq, 4 accumulators)
and the plain loop.  Two lanes of comparison:

- AVX-512: our kernel compiled for this CPU against the AVX-512 loop (gcc -O3 -march=native);
- AVX2: our kernel compiled for an AVX2-only CPU (NUMBA_CPU_NAME=haswell, no zmm) against the
  AVX2 loop (gcc -O3 -march=haswell): an AVX2-only machine, emulated on this one.

Two kinds of rows: whole processes on all cores (`python -m exo_gay fingerprint --count N`
against the C program over the same range; start-up, threads and all), alternated A B A B
and paired, ratio = C's wall time / ours (> 1: ours is faster); and one core in one process
(each loop built as a shared library and called through ctypes on the same range,
interleaved, timed by the thread's CPU time).  Every run's XOR must equal every other's.
The machine's load is measured over the run: on a busy machine every grade is marked
unreliable.  Progress goes to stderr on a terminal; --json or no terminal is quiet.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exo_gay import spi  # noqa: E402
from exo_gay.bench import LoadMeter, cpu_flags, load_text, machine, startup  # noqa: E402
from exo_gay.kernels import llvm_cpu  # noqa: E402

C_DIR = Path(__file__).resolve().parent / "c"
SEED = spi.IHOR_SEED
TARGET = 0.95
STARTUP_TARGET = 0.3
AVX2_CPU = "haswell"
OURS, OURS_AVX2 = "ours (this CPU)", f"ours ({AVX2_CPU} target)"
# (row, source, gcc flags, CPU flags it needs, the lane it is compared in)
C_LOOPS = (
    ("C AVX-512 intrinsics", "xor_avx512.c", ["-O3", "-march=native"], {"avx512f", "avx512dq"}, "avx512"),
    ("C plain -march=native", "xor_plain.c", ["-O3", "-march=native"], set(), "avx512"),
    ("C AVX2 intrinsics", "xor_avx2.c", ["-O3", f"-march={AVX2_CPU}"], {"avx2", "fma", "bmi2"}, "avx2"),
    ("C plain -march=haswell", "xor_plain.c", ["-O3", f"-march={AVX2_CPU}"], {"avx2", "fma", "bmi2"}, "avx2"),
)
# lane -> (our row, the hand loop it must reach TARGET of, our row's environment change)
LANES = {"avx512": (OURS, "C AVX-512 intrinsics", {}),
         "avx2": (OURS_AVX2, "C AVX2 intrinsics", {"NUMBA_CPU_NAME": AVX2_CPU, "NUMBA_CPU_FEATURES": ""})}


def build(workdir: str) -> tuple[dict, dict]:
    """row -> (executable, shared library) for each C loop built here; row -> reason for the others."""
    cc = shutil.which("gcc") or shutil.which("cc")
    flags = cpu_flags()
    built, skipped = {}, {}
    for name, source, opts, needs, _lane in C_LOOPS:
        if cc is None:
            skipped[name] = "no C compiler (gcc or cc) here"
            continue
        if not needs <= flags:
            skipped[name] = f"this CPU lacks {', '.join(sorted(needs - flags))}"
            continue
        stem = os.path.join(workdir, name.replace(" ", "_").replace("=", "").replace("-", ""))
        src = str(C_DIR / source)
        exe = subprocess.run([cc, *opts, "-fopenmp", src, "-o", stem], capture_output=True, text=True)
        lib = subprocess.run([cc, *opts, "-fPIC", "-shared", "-DEXO_GAY_LIB", src, "-o", stem + ".so"],
                             capture_output=True, text=True)
        if exe.returncode or lib.returncode:
            why = (exe.stderr + lib.stderr).strip()[-200:]
            skipped[name] = f"{os.path.basename(cc)} {' '.join(opts)} failed: {why}"
        else:
            built[name] = (stem, stem + ".so")
    return built, skipped


def _lane_ok(lane: str, built: dict) -> bool:
    return LANES[lane][1] in built


# --- one core, one process ------------------------------------------------------------------

def single_core(built: dict, repetitions: int, say) -> dict:
    """Every loop on one core over the same range, interleaved; medians of thread-CPU-time rates."""
    keep = [llvm_cpu.compile_kernels(*llvm_cpu.target())]  # the dicts own the machine code
    fns = {OURS: keep[0]["canonical"]}
    if _lane_ok("avx2", built):
        keep.append(llvm_cpu.compile_kernels(AVX2_CPU, "", use_cache=False))
        fns[OURS_AVX2] = keep[-1]["canonical"]
    for name, (_exe, lib) in built.items():
        fn = ctypes.CDLL(lib).xor_piece
        fn.restype, fn.argtypes = ctypes.c_uint64, [ctypes.c_uint64, ctypes.c_uint64]
        fns[name] = fn
    count = 1 << 20
    while _cpu_time(fns[OURS], count)[1] < 0.05:  # our kernel runs about 0.1 s a repetition
        count *= 2
    rates = {name: [] for name in fns}
    xors = {}
    for rep in range(repetitions):
        say(f"one core: repetition {rep + 1}/{repetitions}")
        for name in (list(fns) if rep % 2 == 0 else list(fns)[::-1]):
            xors[name], dt = _cpu_time(fns[name], count)
            rates[name].append(count / dt)
    want = spi.xor_range(SEED, 0, 1000)
    small_ok = all(fn(SEED, 1000) == want for fn in fns.values())
    return {"count": count, "timed_by": "thread CPU time", "repetitions": repetitions,
            "rates": {name: round(median(r)) for name, r in rates.items()},
            "ratios": _ratios(rates, per_rate=True),
            "xor_agree": len(set(xors.values())) == 1 and small_ok}


def _cpu_time(fn, count: int) -> tuple[int, float]:
    c0 = time.thread_time()
    x = fn(SEED, count)
    return x, time.thread_time() - c0


def _ratios(samples: dict, per_rate: bool) -> dict:
    """ours / C, per lane: the median of per-repetition ratios (rates: ours/C; times: C/ours)."""
    out = {}
    for lane, (ours, _hand, _env) in LANES.items():
        for c_name, _src, _opts, _needs, c_lane in C_LOOPS:
            if c_lane == lane and ours in samples and c_name in samples:
                pairs = zip(samples[ours], samples[c_name], strict=True)
                out[f"{ours} / {c_name}"] = round(median((a / b) if per_rate else (b / a) for a, b in pairs), 3)
    return out


# --- whole processes on all cores ------------------------------------------------------------

def _run(argv: list[str], env: dict | None = None) -> tuple[str, float, float]:
    """(XOR, wall seconds, CPU seconds) of one whole process."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out, err = p.stdout.read(), p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed: {err.strip()[-300:]}")
    xor = json.loads(out)["xor"] if out.lstrip().startswith("{") else out.split()[0]
    return xor, wall, usage.ru_utime + usage.ru_stime


def _commands(built: dict, count: int) -> dict[str, tuple[list[str], dict | None]]:
    ours = [sys.executable, "-m", "exo_gay", "fingerprint", "--seed", str(SEED), "--count", str(count), "--json"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    cmds: dict[str, tuple[list[str], dict | None]] = {}
    for our_row, hand, change in LANES.values():
        if hand in built:
            cmds[our_row] = (ours, {**env, **change})
            cmds[hand] = ([built[hand][0], str(SEED), "0", str(count)], None)
    return cmds


def whole_process(built: dict, count: int, repetitions: int, say) -> dict:
    """Our command and the hand loops' programs, all cores, alternated; paired wall and CPU ratios."""
    cmds = _commands(built, count)
    for name, (argv, env) in _commands(built, 10**6).items():  # warm-up: caches filled, not counted
        say(f"whole process: warming up {name}")
        _run(argv, env)
    walls = {name: [] for name in cmds}
    cpus = {name: [] for name in cmds}
    xors = set()
    order = list(cmds)
    for rep in range(repetitions):
        for name in (order if rep % 2 == 0 else order[::-1]):
            say(f"whole process: repetition {rep + 1}/{repetitions}, {name}, {count:.3g} colors")
            xor, wall, cpu = _run(*cmds[name])
            xors.add(int(xor, 16))
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {"count": count, "repetitions": repetitions, "threads": os.cpu_count(),
            "wall_seconds": {n: round(median(w), 3) for n, w in walls.items()},
            "cpu_seconds": {n: round(median(c), 3) for n, c in cpus.items()},
            "ratios_wall": _ratios(walls, per_rate=False), "ratios_cpu": _ratios(cpus, per_rate=False),
            "xor_agree": len(xors) == 1}


# --- grades -----------------------------------------------------------------------------------

def grades(whole: dict, single: dict, start: dict | None, busy: bool) -> list[dict]:
    """Issue 20's targets, each with the figure it was judged on; unreliable on a busy machine."""
    out = []
    for lane, (ours, hand, _env) in LANES.items():
        key = f"{ours} / {hand}"
        if key in whole.get("ratios_wall", {}):
            r = whole["ratios_wall"][key]
            out.append({"target": f"{lane}: ours >= {TARGET}x {hand}, whole process, {whole['count']:.3g} colors, "
                                  "all cores (wall)", "figure": r, "met": r >= TARGET})
    if start:
        s = start["warm"]["first_color_seconds"]
        out.append({"target": f"start-up: first color within {STARTUP_TARGET} s of process start, warm cache",
                    "figure": s, "met": s <= STARTUP_TARGET})
    for g in out:
        g["reliable"] = not busy
    return out


def grade_text(g: dict) -> str:
    verdict = "MET" if g["met"] else "MISSED"
    if not g["reliable"]:
        verdict += " (unreliable: busy machine)"
    return f"{verdict} {g['target']}: {g['figure']}"


def compare(count: int = 20_000_000_000, repetitions: int = 3, single_repetitions: int = 11,
            start: dict | None = None, say=lambda msg: None) -> dict:
    """Build, run both kinds of rows, grade; ``lines`` is the human-readable summary."""
    load = LoadMeter()
    report: dict = {"compiler": shutil.which("gcc") or shutil.which("cc"),
                    "loops": {name: f"{src}: gcc {' '.join(opts)}" for name, src, opts, _n, _l in C_LOOPS}}
    with tempfile.TemporaryDirectory() as d:
        say("building the C loops")
        built, report["skipped"] = build(d)
        report["single_core"] = single_core(built, single_repetitions, say)
        report["whole_process"] = whole_process(built, count, repetitions, say) if built else {}
    report["load"] = load.report()
    report["startup"] = start
    report["grades"] = grades(report["whole_process"], report["single_core"], start, report["load"]["busy"])
    report["lines"] = summary(report)
    return report


def summary(report: dict) -> list[str]:
    lines = [f"C loops ({report['compiler'] or 'no compiler'}): "
             + "; ".join(f"{n} = {v}" for n, v in report["loops"].items() if n not in report["skipped"])]
    lines += [f"  skipped {n}: {why}" for n, why in report["skipped"].items()]
    s = report["single_core"]
    lines.append(f"one core, {s['repetitions']} interleaved repetitions of {s['count']:.3g} colors, "
                 f"thread CPU time; XORs {'agree' if s['xor_agree'] else 'DIFFER'}:")
    lines += [f"  {n}: {r / 1e9:.2f} G colors/s" for n, r in s["rates"].items()]
    lines += [f"  {n}: {r}x" for n, r in s["ratios"].items()]
    w = report["whole_process"]
    if w:
        lines.append(f"whole processes, all cores, {w['count']:.3g} colors, {w['repetitions']} alternated "
                     f"repetitions; XORs {'agree' if w['xor_agree'] else 'DIFFER'}:")
        lines += [f"  {n}: {t} s wall, {w['cpu_seconds'][n]} s CPU" for n, t in w["wall_seconds"].items()]
        lines += [f"  {n}: {r}x by wall time, {w['ratios_cpu'][n]}x by CPU time"
                  for n, r in w["ratios_wall"].items()]
    if report["startup"]:
        warm = report["startup"]["warm"]
        lines.append(f"start-up, fresh process to first color, warm cache: {warm['first_color_seconds']} s wall "
                     f"(median of {warm['repetitions']}, best {warm['first_color_best']} s), "
                     f"{warm['cpu_seconds']} s CPU; empty cache: {report['startup']['cold']['first_color_seconds']} s")
    lines.append(load_text(report["load"]))
    lines += [grade_text(g) for g in report["grades"]]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=float, default=2e10, help="colors per whole-process run (default 2e10)")
    ap.add_argument("--repetitions", type=int, default=3, help="whole-process repetitions (default 3)")
    ap.add_argument("--single-repetitions", type=int, default=11, help="one-core repetitions (default 11)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    quiet = args.json or not sys.stderr.isatty()
    say = (lambda msg: None) if quiet else (lambda msg: print(f"kernel_vs_c: {msg}", file=sys.stderr, flush=True))
    say("start-up: fresh processes")
    report = {"machine": machine(), **compare(int(args.count), args.repetitions, args.single_repetitions,
                                               startup(), say)}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    m = report["machine"]
    print(f"{m['cpu']}, {m['cores']} cores; CPU flags: {' '.join(m['vector_flags'])}")
    print("\n".join(report["lines"]))


if __name__ == "__main__":
    main()
