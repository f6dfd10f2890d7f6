"""The time model against real inference: legacy exo's MLX ring on the CPU, nodes slowed by cgroup CPU quotas.

Run (as root, Linux; builds or finds legacy exo's venv with tests/exo_legacy_env.py, ~3 min the first time):
    .venv/bin/python benchmarks/bench_plans_real.py [--tokens 32] [--repeats 3] [--json]
        [--quota fast=1.0 --quota mid=0.5 --quota slow=0.25] [--hidden 1024] [--exo-python PATH]

What it does, all on 127.0.0.1:
1. A tiny random Llama (tests/tiny_llama.py: 16 layers like exo's card `llama-3.2-1b`, float32, hidden
   --hidden, so that a token takes tens of ms on a core and the quotas bite), staged where exo finds the
   card's files (tests/test_exo_ring.py's `stage`): nothing is downloaded.
2. One CPU cgroup per node under a folder of our own (cgroup v2 `cpu.max`, or the v1 cpu controller's
   `cpu.cfs_quota_us` / `cpu.cfs_period_us`, the same CFS bandwidth control): a node with quota q gets
   q CPUs (period 5 ms, so that a node's share is enforced within one token). The folder is removed at
   the end. Where cgroups cannot be made here, one line says so and the script exits 0.
3. Each node's true speeds, measured inside its cgroup as `exo-gay partition --measure` does
   (strategies/measure.py: numpy stream GB/s and float32 matmul TFLOPS): the figures a user would put
   in the cluster file's "gay" section.
4. Three nodes of plain legacy exo (no exo-gay plugin; tests/netutil.py's ExoNodes: manual discovery,
   ports on 127.0.0.1), with benchmarks/plans_real_probe/sitecustomize.py, which forces the plan
   written in a file (re-read when it changes, so the ring runs every plan without a restart) and
   logs the layers each node's MLX engine holds. Each node's process group is moved into its cgroup
   once the ring has formed.
5. Plans, each scored by the time model (GayShardingStrategy / planner.evaluate with the measured
   speeds, the default 3 ms hop, context = prompt + generated tokens) and run: one warm-up request
   (the shards load), then --repeats streamed requests of --tokens tokens, decode ms per token from the
   stream (first to last token) and tokens/s of the whole request:
     ours           GayShardingStrategy as the plugin runs it (a node kept only when it pays)
     ours-keep-all  the same with every node kept (EXO_GAY_KEEP_ALL_NODES=1)
     exo-default    exo's own RingMemoryWeightedPartitioningStrategy, run by exo itself
     inverted       a deliberately bad split: layers in proportion to 1 / speed, slowest node first
   Checked per plan: every node that has layers holds exactly the planned ones (the probe's lines).
6. A table, and whether the measured order of decode ms/token matches the model's order.
Progress goes to stderr; --json prints every number on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
PROBE = Path(__file__).resolve().parent / "plans_real_probe"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(TESTS))

import exo_legacy_env  # noqa: E402
from netutil import ExoNodes  # noqa: E402

from exo_gay.hostinfo import cpu_model  # noqa: E402
from exo_gay.strategies.exo_split import exo_default, exo_layers, plan_fractions  # noqa: E402
from exo_gay.strategies.gay_strategy import GayShardingStrategy  # noqa: E402
from exo_gay.strategies.planner import evaluate  # noqa: E402
from exo_gay.strategies.problem import DEFAULT_HOP_MS, make_problem  # noqa: E402

CARD = "llama-3.2-1b"                             # exo's card: 16 layers
REPO = "mlx-community/Llama-3.2-1B-Instruct-4bit"  # where exo's downloader looks for the card's files
LAYERS = 16
PROMPT = "Tell me about the exo ring."
PERIOD_US = 5000
DEFAULT_QUOTAS = {"fast": 1.0, "mid": 0.5, "slow": 0.25}


def say(msg: str) -> None:
    print(f"bench_plans_real: {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- cgroups

class CgroupUnavailable(Exception):
    pass


class CpuCgroups:
    """One child cgroup per node, CPU bandwidth limited, under a folder of our own; removed by close()."""

    def __init__(self, quotas: dict[str, float], period_us: int = PERIOD_US):
        self.quotas, self.period_us = quotas, period_us
        self.version, self.base, self.parent = self._locate()
        self.dirs: dict[str, Path] = {}
        self.top = self.base / f"exo-gay-bench-{os.getpid()}"
        try:
            self.top.mkdir()
            if self.version == 2:
                (self.top / "cgroup.subtree_control").write_text("+cpu")
            for name, q in quotas.items():
                d = self.top / name
                d.mkdir()
                quota = max(1000, int(round(q * period_us)))
                if self.version == 2:
                    (d / "cpu.max").write_text(f"{quota} {period_us}")
                else:
                    (d / "cpu.cfs_period_us").write_text(str(period_us))
                    (d / "cpu.cfs_quota_us").write_text(str(quota))
                self.dirs[name] = d
        except OSError as e:
            self.close()
            raise CgroupUnavailable(f"cannot make CPU cgroups under {self.base}: {e}") from None

    @staticmethod
    def _locate() -> tuple[int, Path, Path]:
        """(version, the folder to make ours in, the cgroup to put processes back into)."""
        fs = Path("/sys/fs/cgroup")
        own = {}
        with contextlib.suppress(OSError):
            for line in Path("/proc/self/cgroup").read_text().splitlines():
                _, ctrls, path = line.split(":", 2)
                own[ctrls] = path
        if (fs / "cgroup.controllers").is_file():  # unified (v2) hierarchy
            if "cpu" not in (fs / "cgroup.subtree_control").read_text().split():
                raise CgroupUnavailable("cgroup v2 without the cpu controller enabled at /sys/fs/cgroup")
            return 2, fs, fs / own.get("", "/").lstrip("/")
        for ctrls, path in own.items():
            if "cpu" in ctrls.split(","):
                mount = fs / ctrls
                if not mount.is_dir():
                    mount = fs / "cpu"
                if (mount / "cpu.cfs_quota_us").exists() or (mount / path.lstrip("/") / "cpu.cfs_quota_us").exists():
                    here = mount / path.lstrip("/")
                    return 1, here, here
        raise CgroupUnavailable("no cgroup v2 cpu controller and no v1 cpu hierarchy under /sys/fs/cgroup")

    def limits(self) -> dict[str, str]:
        out = {}
        for name, d in self.dirs.items():
            if self.version == 2:
                out[name] = (d / "cpu.max").read_text().strip()
            else:
                quota, period = (d / "cpu.cfs_quota_us").read_text(), (d / "cpu.cfs_period_us").read_text()
                out[name] = f"{quota.strip()} {period.strip()}"
        return out

    def enter(self, name: str) -> None:
        """Move the calling process into ``name`` (a subprocess's preexec_fn)."""
        (self.dirs[name] / "cgroup.procs").write_text(str(os.getpid()))

    def move_group(self, name: str, pgid: int) -> list[int]:
        """Move every process of process group ``pgid`` (a node started in its own session) into ``name``."""
        moved = []
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) != pgid:
                    continue
                (self.dirs[name] / "cgroup.procs").write_text(p.name)
                moved.append(int(p.name))
            except (OSError, IndexError, ValueError):
                continue
        return moved

    def close(self) -> None:
        for d in list(self.dirs.values()):
            with contextlib.suppress(OSError):
                for pid in (d / "cgroup.procs").read_text().split():
                    with contextlib.suppress(OSError):
                        (self.parent / "cgroup.procs").write_text(pid)
        for d in [*self.dirs.values(), self.top]:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
        self.dirs = {}


# ----------------------------------------------------------------------------- speeds, model, plans

MEASURE = ("import json; from exo_gay.strategies.measure import stream_gbps, matmul_tflops; "
           "print(json.dumps({'mem_bandwidth_gbs': stream_gbps(), 'tflops': matmul_tflops()}))")


def measure_in(cg: CpuCgroups, name: str) -> dict:
    r = subprocess.run([sys.executable, "-c", MEASURE], capture_output=True, text=True, cwd=ROOT, timeout=300,
                       preexec_fn=lambda: cg.enter(name), env={**os.environ, "OMP_NUM_THREADS": "1"})
    if r.returncode != 0:
        raise RuntimeError(f"measuring {name} failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def model_dir(exo: exo_legacy_env.LegacyExo, hidden: int) -> Path:
    """The tiny Llama with ``hidden``, built once per recipe into the exo-gay cache."""
    recipe = hashlib.sha256((TESTS / "tiny_llama.py").read_bytes() + f"{hidden}/{LAYERS}".encode()).hexdigest()[:12]
    out = exo_legacy_env.cache_dir() / "bench-plans-real" / f"tiny-llama-{hidden}-{recipe}"
    if (out / "COMPLETE").is_file():
        return out
    say(f"building a {LAYERS}-layer tiny Llama (hidden {hidden}, float32) in {out}")
    code = ("import sys, json; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import tiny_llama; "
            "print(json.dumps(tiny_llama.build(Path(sys.argv[2]), int(sys.argv[3]), [sys.argv[4]], "
            "hidden=int(sys.argv[5]))))")
    out.parent.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([str(exo.python), "-c", code, str(TESTS), str(out), str(LAYERS), str(ROOT / "docs"),
                        str(hidden)], capture_output=True, text=True, cwd=out.parent, env=exo.env(), timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"building the tiny Llama failed:\n{r.stderr[-3000:]}")
    (out / "COMPLETE").write_text(r.stdout)
    return out


def split_inverse(ring_ids: list[str], gbps: dict[str, float], n: int) -> list[tuple[str, int, int]]:
    """Layers in proportion to 1 / speed (largest remainders, >= 1 each), the slowest node first."""
    order = sorted(ring_ids, key=lambda i: (gbps[i], i))
    w = [1.0 / gbps[i] for i in order]
    spare = n - len(order)
    raw = [x / sum(w) * spare for x in w]
    counts = [1 + int(r) for r in raw]
    for k in sorted(range(len(order)), key=lambda k: (-(raw[k] - int(raw[k])), k))[: n - sum(counts)]:
        counts[k] += 1
    out, b = [], 0
    for i, c in zip(order, counts, strict=True):
        out.append((i, b, b + c))
        b += c
    return out


def make_plans(model: Path, topology: dict, measured: dict, context: int) -> tuple[list[dict], dict]:
    """Every plan: name, the partitions to force (None: exo's own), per-node layers, the model's figures."""
    ours = GayShardingStrategy(model=str(model), context_tokens=context, measured=measured)
    ours_all = GayShardingStrategy(model=str(model), context_tokens=context, measured=measured, keep_all_nodes=True)
    ring, _ = ours.plan(topology)
    ids = [n.node_id for n in ring]
    problem = make_problem(ours.costs, ring, context, DEFAULT_HOP_MS)
    L = problem.n_layers

    def scored(name: str, layers: dict[str, tuple[int, int]], partitions, how: str) -> dict:
        segs = [layers.get(i, (0, 0)) for i in ids]
        p = evaluate(problem, segs, "latency")
        pipeline = sorted(layers, key=lambda i: layers[i][0])
        return {"name": name, "how": how, "partitions": partitions,
                "layers": {i: list(layers[i]) for i in pipeline},
                "pipeline": pipeline, "predicted_ms_per_token": p.latency_ms,
                "predicted_stage_ms": {i: p.decode_ms[ids.index(i)] for i in pipeline},
                "predicted_tokens_per_s": p.tokens_per_s,
                "fits_memory": all(m <= b for m, b in zip(p.mem_bytes, problem.budgets, strict=True))}

    plans = []
    for name, strat, how in (("ours", ours, "GayShardingStrategy (nodes kept when they pay)"),
                             ("ours-keep-all", ours_all, "GayShardingStrategy(keep_all_nodes=True)")):
        parts = strat.partition(topology)
        layers = exo_layers([(p.start, p.end) for p in parts], L)
        plans.append(scored(name, {p.node_id: ly for p, ly in zip(parts, layers, strict=True)},
                            [[p.node_id, p.start, p.end] for p in parts], how))
    ex = exo_default(ring, L)
    plans.append(scored("exo-default", {i: ly for i, ly in zip(ex.order, ex.layers, strict=True) if ly}, None,
                        "exo's RingMemoryWeightedPartitioningStrategy, run by exo"))
    inv = split_inverse(ids, {n.node_id: n.gbps for n in ring}, L)
    segs = [(0, 0)] * len(ids)
    for i, a, b in inv:
        segs[ids.index(i)] = (a, b)
    parts = [[ids[j], a, b] for j, a, b in plan_fractions(segs, L)]
    plans.append(scored("inverted", {i: (a, b) for i, a, b in inv}, parts, "layers in proportion to 1 / speed"))
    info = {"costs": ours.costs.source, "weight_bytes": ours.costs.total_weight_bytes(),
            "nodes": [{"id": n.node_id, "memory_mb": n.memory_mb, "gbps_planned": n.gbps,
                       "tflops_planned": n.tflops, "source": n.speed_source} for n in ring],
            "hop_ms": DEFAULT_HOP_MS, "context": context}
    return plans, info


# ----------------------------------------------------------------------------- the ring

class PlanRing(ExoNodes):
    stop_wait_s = 15.0

    def __init__(self, exo: exo_legacy_env.LegacyExo, tmp: Path, model: Path, ids: list[str], tokens: int):
        super().__init__(ids, tmp)
        from test_exo_ring import stage  # where exo's downloader finds the card's files

        self.plan_file = tmp / "plan.json"
        self.set_plan({"name": "exo default", "partitions": None})
        for i in ids:
            home, tmpdir, cwd = tmp / f"home-{i}", tmp / f"tmp-{i}", tmp / f"cwd-{i}"
            stage(model, home, tmpdir)
            cwd.mkdir()
            args = [*self.exo_args(i, "mlx"), "--max-generate-tokens", str(tokens), "--default-temp", "0"]
            env = exo.env(EXO_HOME=str(home), TMPDIR=str(tmpdir), EXO_GAY_TEST_PROBE="exo", EXO_GAY_TEST_LOADS="1",
                          EXO_GAY_BENCH_PLAN_FILE=str(self.plan_file),
                          EXO_GAY_BENCH_TESTS_PROBE=str(TESTS / "exo_probe" / "sitecustomize.py"),
                          PYTHONPATH=str(PROBE))
            self.start(i, [str(exo.python), "-m", "exo.main", *args], env, cwd=cwd)

    def set_plan(self, plan: dict) -> None:
        tmp = self.plan_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(plan))
        os.replace(tmp, self.plan_file)  # a new inode: every node re-reads it

    def lines(self, i: str, prefix: str) -> list[dict]:
        return [json.loads(x[len(prefix):]) for x in self.log(i).splitlines() if x.startswith(prefix)]

    def held(self, i: str) -> list[int] | None:
        loads = self.lines(i, "exo-gay-test: loaded ")
        return loads[-1]["layers"] if loads else None

    def request(self, via: str, timeout: float = 600.0) -> dict:
        """One streamed chat completion: arrival time of each chunk, the token count."""
        body = {"model": CARD, "messages": [{"role": "user", "content": PROMPT}], "temperature": 0, "stream": True}
        req = urllib.request.Request(f"http://127.0.0.1:{self.api[via]}/v1/chat/completions",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        t0 = time.perf_counter()
        stamps, finish = [], None
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            for raw in resp:
                line = raw.decode(errors="replace").strip()
                if not line.startswith("data: "):
                    continue
                data = json.loads(line[6:])
                stamps.append(time.perf_counter() - t0)
                finish = data["choices"][0].get("finish_reason") or finish
        n = len(stamps)
        decode = (stamps[-1] - stamps[0]) / (n - 1) * 1000 if n > 1 else float("nan")
        return {"tokens": n, "total_s": stamps[-1] if stamps else float("nan"), "ttft_ms": stamps[0] * 1000,
                "decode_ms_per_token": decode, "tokens_per_s": n / stamps[-1] if stamps else 0.0,
                "finish": finish}


def run_plan(ring: PlanRing, plan: dict, via: str, repeats: int) -> dict:
    ring.set_plan({"name": plan["name"], "partitions": plan["partitions"]})
    say(f"{plan['name']}: warm-up request (the shards load)")
    warm = ring.request(via)
    held = {i: ring.held(i) for i in ring.ids}
    want = {i: list(range(a, b)) for i, (a, b) in plan["layers"].items()}
    logged = [p for p in ring.lines(via, "exo-gay-bench: plan ") if p["name"] == plan["name"]]
    ok = all(held[i] == want[i] for i in want) and bool(logged)
    if not ok:
        say(f"{plan['name']}: the nodes do not hold the planned layers: held {held}, planned {want}")
    runs = []
    for r in range(repeats):
        runs.append(ring.request(via))
        say(f"{plan['name']}: run {r + 1}/{repeats}: {runs[-1]['tokens']} tokens, "
            f"{runs[-1]['decode_ms_per_token']:.1f} ms/token decode, {runs[-1]['tokens_per_s']:.2f} tokens/s")
    return {"held_as_planned": ok, "held": held, "exo_partitions": logged[-1]["partitions"] if logged else None,
            "warm_up": warm, "runs": runs,
            "decode_ms_per_token": statistics.median(x["decode_ms_per_token"] for x in runs),
            "tokens_per_s": statistics.median(x["tokens_per_s"] for x in runs),
            "ttft_ms": statistics.median(x["ttft_ms"] for x in runs)}


# ----------------------------------------------------------------------------- report

def kendall_agree(pred: list[float], meas: list[float]) -> tuple[int, int]:
    pairs = [(a, b) for a in range(len(pred)) for b in range(a + 1, len(pred))]
    agree = sum(1 for a, b in pairs if (pred[a] - pred[b]) * (meas[a] - meas[b]) > 0)
    return agree, len(pairs)


def fit_scale_and_hop(plans: list[dict]) -> dict | None:
    """measured = scale x (the model's ms without hops) + hop_ms x hops, least squares over the plans."""
    import numpy as np

    rows, y = [], []
    for p in plans:
        hops = len(p["pipeline"]) if len(p["pipeline"]) > 1 else 0
        rows.append([p["predicted_ms_per_token"] - hops * DEFAULT_HOP_MS, hops])
        y.append(p["measured"]["decode_ms_per_token"])
    A = np.array(rows, dtype=float)
    if len(plans) < 3 or np.linalg.matrix_rank(A) < 2:
        return None
    (scale, hop), *_ = np.linalg.lstsq(A, np.array(y), rcond=None)
    resid = np.array(y) - A @ np.array([scale, hop])
    return {"scale": float(scale), "hop_ms": float(hop), "max_residual_ms": float(np.abs(resid).max())}


def table(result: dict) -> str:
    rows = [("plan", "layers (pipeline order)", "model ms/tok", "measured ms/tok", "tok/s", "held")]
    for p in result["plans"]:
        m = p["measured"]
        rows.append((p["name"], " ".join(f"{i} {a}-{b - 1}" for i, (a, b) in p["layers"].items()),
                     f"{p['predicted_ms_per_token']:.1f}", f"{m['decode_ms_per_token']:.1f}",
                     f"{m['tokens_per_s']:.2f}", "yes" if m["held_as_planned"] else "NO"))
    w = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w[k]) if k < 2 else c.rjust(w[k]) for k, c in enumerate(r)) for r in rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=32, help="tokens generated per request (exo's cap)")
    ap.add_argument("--repeats", type=int, default=3, help="measured requests per plan")
    ap.add_argument("--quota", action="append", default=[], metavar="NODE=CPUS",
                    help="a node and its CPU quota (default fast=1.0 mid=0.5 slow=0.25)")
    ap.add_argument("--hidden", type=int, default=1024, help="the tiny Llama's hidden size")
    ap.add_argument("--exo-python", help="a legacy exo venv's python to use instead of tests/exo_legacy_env.py's")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    quotas = dict(DEFAULT_QUOTAS)
    if a.quota:
        quotas = {k: float(v) for k, v in (q.split("=", 1) for q in a.quota)}
    if len(quotas) < 2:
        ap.error("at least two nodes")

    try:
        cg = CpuCgroups(quotas)
    except (CgroupUnavailable, OSError) as e:
        print(f"bench_plans_real: skipped: {e}")
        return 0
    try:
        return run(a, quotas, cg)
    finally:
        cg.close()


def run(a, quotas: dict[str, float], cg: CpuCgroups) -> int:
    say(f"cgroup v{cg.version} at {cg.top}: {cg.limits()} (quota period, us)")
    if a.exo_python:
        py = Path(a.exo_python)
        exo = exo_legacy_env.LegacyExo(root=py.parent.parent.parent, python=py, exo_src=py.parent.parent.parent / "src"
                                       / "exo", fork_path=py.parent.parent.parent / "fork")
    else:
        try:
            exo = exo_legacy_env.ensure()
        except exo_legacy_env.Unavailable as e:
            print(f"bench_plans_real: skipped: {e}")
            return 0
    model = model_dir(exo, a.hidden)
    measured = {}
    for name in quotas:
        measured[name] = measure_in(cg, name)
        say(f"{name} ({quotas[name]} CPU): {measured[name]['mem_bandwidth_gbs']:.2f} GB/s, "
            f"{measured[name]['tflops'] * 1000:.1f} GFLOPS (measured in its cgroup)")

    with tempfile.TemporaryDirectory(prefix="bench-plans-real-") as td:
        ring = PlanRing(exo, Path(td), model, list(quotas), a.tokens)
        try:
            say("starting 3 legacy exo nodes (MLX, CPU) on 127.0.0.1")
            tops = ring.wait_for_topologies(lambda t: all(sorted(x.get("nodes", {})) == sorted(ring.ids)
                                                          for x in t.values()), 300)
            for i in ring.ids:
                moved = cg.move_group(i, ring.procs[i].pid)
                say(f"{i}: processes {moved} moved into {cg.dirs[i]}")
            topology = {i: {"memory": n["memory"], "chip": n["chip"], "model": n["model"]}
                        for i, n in tops[ring.ids[0]]["nodes"].items()}
            context = 64 + a.tokens
            plans, info = make_plans(model, topology, measured, context)
            via = max(quotas, key=lambda i: (quotas[i], i))  # the fastest node has layers in every plan
            for p in plans:
                if via not in p["layers"]:
                    raise RuntimeError(f"{p['name']} leaves out {via}, the API node")
            for p in plans:
                say(f"{p['name']}: " + ", ".join(f"{i} {a_}-{b - 1}" for i, (a_, b) in p["layers"].items())
                    + f"; the model says {p['predicted_ms_per_token']:.1f} ms/token")
                p["measured"] = run_plan(ring, p, via, a.repeats)
        finally:
            ring.stop()

    pred = [p["predicted_ms_per_token"] for p in plans]
    meas = [p["measured"]["decode_ms_per_token"] for p in plans]
    agree, pairs = kendall_agree(pred, meas)
    fit = fit_scale_and_hop(plans)
    model_order = [p["name"] for p in sorted(plans, key=lambda p: p["predicted_ms_per_token"])]
    measured_order = [p["name"] for p in sorted(plans, key=lambda p: p["measured"]["decode_ms_per_token"])]
    result = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count()}, "quotas_cpus": quotas,
              "cgroup": {"version": cg.version, "limits": cg.limits()}, "measured_speeds": measured,
              "model": {**info, "dir": str(model), "hidden": a.hidden, "layers": LAYERS},
              "tokens": a.tokens, "repeats": a.repeats, "via": via, "plans": plans,
              "model_order": model_order, "measured_order": measured_order,
              "order_matches": model_order == measured_order, "pairs_agreeing": [agree, pairs], "fit": fit}
    if a.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"legacy exo MLX ring on {cpu_model()} ({os.cpu_count()} cores), CPU quotas {quotas}, "
          f"{a.tokens} tokens x {a.repeats} requests per plan (medians), requests to {via}")
    print("speeds measured in each cgroup: " + ", ".join(
        f"{i} {m['mem_bandwidth_gbs']:.2f} GB/s" for i, m in measured.items()) + f"; model hop {DEFAULT_HOP_MS} ms")
    print(table(result))
    print(f"model's order: {' < '.join(model_order)}")
    print(f"measured order: {' < '.join(measured_order)}")
    print(f"order matches: {'yes' if result['order_matches'] else 'no'} ({agree} of {pairs} pairs agree)")
    if fit:
        print(f"least squares over the plans: measured ms/token = {fit['scale']:.2f} x the model's streaming term "
              f"{fit['hop_ms']:+.1f} ms per hop (the model: 1 x, {DEFAULT_HOP_MS} ms per hop)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
