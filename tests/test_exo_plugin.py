"""The exo plugin: pure parts with no exo; the rest against the real legacy exo, marked `exo`.

The `exo` tests run exo's real code from a Python 3.12 venv of legacy exo (commit 5f18faec) that the
session fixture `legacy_exo` builds from the snapshot once and reuses (tests/exo_legacy_env.py); they
skip only where no Python 3.12 or no snapshot exists. They start real exo processes on 127.0.0.1
(dummy inference engine, manual discovery) from that venv and always kill them.
`EXO_GAY_EXO_PACKAGE=exe` runs them against the `exe` fork made from the same snapshot.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import exo_legacy_env
import pytest
from netutil import ExoNodes, http_json

from exo_gay import exo_plugin, spi

legacy_exo = exo_legacy_env.legacy_exo  # the session fixture: exo's venv

ROOT = Path(__file__).resolve().parent.parent
PTH = ROOT / "exo_gay" / "data" / "exo_gay_hook.pth"
PROBE = Path(__file__).resolve().parent / "exo_probe"
# legacy exo, or its `exe` fork (the same code under another package name): EXO_GAY_EXO_PACKAGE=exo|exe
PKG = os.environ.get("EXO_GAY_EXO_PACKAGE") or "exo"
OUTER_HAS_EXO = exo_plugin.importable("exo.main") or exo_plugin.importable("exe.main")


def py(code: str, env_extra: dict | None = None, drop: tuple = (), timeout: float = 60, exo=None):
    """Run code in a fresh interpreter: this one, or (exo=the legacy_exo fixture) exo's venv."""
    if exo is None:
        python, env = sys.executable, {k: v for k, v in os.environ.items() if k not in drop}
    else:
        python, env = str(exo.python), {k: v for k, v in exo.env(fork=PKG == "exe").items() if k not in drop}
    env.update(env_extra or {})
    return subprocess.run([python, "-c", code], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=timeout)


# ------------------------------------------------------------------ pure policy (CI)

def test_color_rate_maps_to_tflops_by_twelve_integer_ops_per_color():
    f = exo_plugin.flops_from_color_rate(1e12 / 12)
    assert math.isclose(f.fp32, 1.0) and math.isclose(f.fp16, 2.0) and math.isclose(f.int8, 4.0)
    g = exo_plugin.flops_from_color_rate(16e9)
    assert math.isclose(g.fp32, 16e9 * 12 / 1e12)
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            exo_plugin.flops_from_color_rate(bad)


def test_declared_tflops_parse_and_refuse_nonsense():
    f = exo_plugin.flops_from_declared("2.5")
    assert (f.fp32, f.fp16, f.int8) == (2.5, 5.0, 10.0)
    for bad in ("0", "-3", "inf", "nan", "fast"):
        with pytest.raises(ValueError):
            exo_plugin.flops_from_declared(bad)


def test_known_chip_is_one_with_any_nonzero_figure():
    assert not exo_plugin.exo_knows_chip(SimpleNamespace(fp32=0, fp16=0, int8=0))
    assert exo_plugin.exo_knows_chip(SimpleNamespace(fp32=0, fp16=0.5, int8=0))


def test_measured_color_rate_is_positive_and_names_its_backend():
    rate, backend = exo_plugin.measure_color_rate(min_seconds=0.05, threads=1)
    assert rate > 0 and isinstance(backend, str) and backend


def test_the_miner_is_opt_in():
    assert not exo_plugin.miner_on({}) and not exo_plugin.miner_on({exo_plugin.ENV_MINER: "0"})
    assert not exo_plugin.miner_on({exo_plugin.ENV_MINER: ""})
    assert exo_plugin.miner_on({exo_plugin.ENV_MINER: "1"}) and exo_plugin.miner_on({exo_plugin.ENV_MINER: " On "})


def test_module_default_prefers_the_fork_then_exo():
    assert exo_plugin.default_module(lambda m: True) == "exe.main"
    assert exo_plugin.default_module(lambda m: m == "exo.main") == "exo.main"
    assert exo_plugin.default_module(lambda m: False) is None
    assert not exo_plugin.importable("no_such_package_here.main")


def test_plan_record_names_the_nodes_left_out():
    parts = [SimpleNamespace(node_id="a", start=0.0, end=0.5), SimpleNamespace(node_id="c", start=0.5, end=1.0)]
    rec = exo_plugin.plan_record(("m", 8), parts, ["c", "b", "a"])
    assert rec == {"model": "m", "n_layers": 8, "partitions": [["a", 0.0, 0.5], ["c", 0.5, 1.0]], "left_out": ["b"]}
    assert exo_plugin.is_left_out(parts, "b") and not exo_plugin.is_left_out(parts, "a")


def test_plan_record_says_where_the_costs_came_from_the_same_on_every_node(tmp_path, monkeypatch):
    from exo_gay.strategies.gay_strategy import GayShardingStrategy

    topo = {"a": {"model": "m", "chip": "c", "memory": 8192, "flops": {"fp32": 5, "fp16": 10, "int8": 20}},
            "b": {"model": "m", "chip": "c", "memory": 4096, "flops": {"fp32": 5, "fp16": 10, "int8": 20}}}
    records = []
    for home in ("node-a", "node-b"):  # each node with its own EXO_HOME, as exo runs them
        monkeypatch.setenv("EXO_HOME", str(tmp_path / home))
        s = GayShardingStrategy()
        s.observe_model("llama-3.2-1b", 16)
        records.append(exo_plugin.plan_record(("llama-3.2-1b", 16), s.partition(topo), list(topo), s.costs))
    assert records[0] == records[1]
    assert records[0]["costs"] == "card table (llama-3.2-1b -> mlx-community/Llama-3.2-1B-Instruct-4bit)"
    assert records[0]["weight_bytes"] == 695242752  # total_size of mlx-community/Llama-3.2-1B-Instruct-4bit


def test_exo_command_bad_module_is_exit_2_with_one_line(cli):
    r = cli("exo", "--module", "foo.main", "--", "--node-id", "x", timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "foo.main" in r.stderr


@pytest.mark.skipif(OUTER_HAS_EXO, reason="exo is importable in the Python running pytest")
def test_exo_command_without_exo_says_what_is_missing_and_the_fix_in_one_line(cli):
    r = cli("exo", "--", "--node-id", "x", timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "neither exe.main nor exo.main is importable" in r.stderr
    assert "pip install 'exo @ git+https://github.com/exo-explore/exo.git@5f18faec" in r.stderr


@pytest.mark.skipif(OUTER_HAS_EXO, reason="exo is importable in the Python running pytest")
def test_exo_command_unimportable_module_is_exit_2(cli):
    r = cli("exo", "--module", "exe.main", "--", "--node-id", "x", timeout=60)
    assert r.returncode == 2 and "not importable" in r.stderr and r.stderr.count("\n") == 1


# ------------------------------------------------------------------ startup hook (CI)

HOOK_PROBE = ("import sys, exo_gay._exo_hook as h; "
              "print(any(isinstance(f, h.ExoMainFinder) for f in sys.meta_path), "
              "'exo' in sys.modules, 'exo_gay.exo_plugin' in sys.modules)")


def test_hook_is_inert_without_the_variable():
    r = py(HOOK_PROBE, drop=(exo_plugin.ENV_STRATEGY,))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False", "False"]


def test_hook_with_the_variable_waits_for_exo_main_and_imports_nothing_yet():
    r = py(HOOK_PROBE, env_extra={exo_plugin.ENV_STRATEGY: "gay"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "False", "False"]
    r = py(HOOK_PROBE, env_extra={exo_plugin.ENV_STRATEGY: "ring"})
    assert r.stdout.split() == ["False", "False", "False"]


def test_pth_line_imports_nothing_unless_the_variable_says_gay():
    line = PTH.read_text().strip()
    assert line.startswith("import ") and "\n" not in line  # site.py runs lines that start with import
    probe = f"{line}\nimport sys; print('exo_gay' in sys.modules, 'exo_gay._exo_hook' in sys.modules)"
    assert py(probe, drop=(exo_plugin.ENV_STRATEGY,)).stdout.split() == ["False", "False"]
    assert py(probe, env_extra={exo_plugin.ENV_STRATEGY: "gay"}).stdout.split() == ["True", "True"]


def test_wheel_ships_the_pth_at_its_root(tmp_path):
    pytest.importorskip("setuptools")
    pytest.importorskip("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=180)
    if r.returncode != 0 and "No module named pip" in r.stderr:
        pytest.skip("pip is not available in this Python")
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = tmp_path.glob("exo_gay-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    assert "exo_gay_hook.pth" in names and "exo_gay/_exo_hook.py" in names


# ------------------------------------------------------------------ against real exo

@pytest.mark.exo
def test_unset_variable_leaves_exo_untouched(legacy_exo):
    code = (f"import importlib.util, sys, exo_gay._exo_hook; importlib.util.find_spec('{PKG}.main'); "
            f"import {PKG}.topology.ring_memory_weighted_partitioning_strategy as m, {PKG}.orchestration.node as n; "
            "print(m.RingMemoryWeightedPartitioningStrategy.__module__, hasattr(n.Node, '_exo_gay_patched'))")
    r = py(code, exo=legacy_exo)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [f"{PKG}.topology.ring_memory_weighted_partitioning_strategy", "False"]


@pytest.mark.exo
def test_variable_set_swaps_the_class_when_exo_main_is_looked_up(legacy_exo):
    code = (f"import importlib.util, exo_gay._exo_hook; importlib.util.find_spec('{PKG}.main'); "
            f"import {PKG}.topology.ring_memory_weighted_partitioning_strategy as m, {PKG}.orchestration.node as n; "
            f"from {PKG}.topology.partitioning_strategy import PartitioningStrategy as P; "
            "c = m.RingMemoryWeightedPartitioningStrategy; s = c(); "
            "print(c.__name__, issubclass(c, P), n.Node._exo_gay_patched, s.planner.objective)")
    r = py(code, env_extra={exo_plugin.ENV_STRATEGY: "gay"}, exo=legacy_exo)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["GayPartitioningStrategy", "True", "True", "latency"]


@pytest.mark.exo
def test_exo_gay_in_exos_venv_moves_none_of_exos_pins(legacy_exo, tmp_path):
    r = subprocess.run([str(legacy_exo.python), "-m", "pip", "check"], capture_output=True, text=True,
                       cwd=tmp_path, env=legacy_exo.env(), timeout=120)
    assert r.returncode == 0 and "No broken requirements found." in r.stdout, r.stdout + r.stderr
    v = legacy_exo.info()["versions"]  # pip freeze after exo-gay went in: exo's own pins
    assert (v["protobuf"], v["grpcio"], v["numpy"], v["transformers"], v["pydantic"]) == (
        "5.28.1", "1.70.0", "2.0.0", "4.46.3", "2.9.2")
    assert (v["mlx"], v["mlx-lm"]) == ("0.25.2", "0.21.1")


# What the plugin costs at exo's start with the miner off: the hook fires on exo.main, the strategy
# plans a topology of exo's own types; none of the miner's modules (kernels, numba, grpc's miner
# service, zenoh, nacl) is imported, and exo's API class is exo's own.
MINER_OFF_PROBE = """
import importlib.util, json, sys
importlib.util.find_spec('{pkg}.main')
import {pkg}.topology.ring_memory_weighted_partitioning_strategy as m
import {pkg}.api.chatgpt_api as api
from {pkg}.topology.topology import Topology
from {pkg}.topology.device_capabilities import DeviceCapabilities, DeviceFlops
t = Topology()
for i, mem in (("a", 8192), ("b", 4096)):
    t.update_node(i, DeviceCapabilities(model="m", chip="c", memory=mem, flops=DeviceFlops(fp32=0, fp16=0, int8=0)))
s = m.RingMemoryWeightedPartitioningStrategy()
s.observe_model("llama-3.2-1b", 16)
parts = s.partition(t)
heavy = sorted(x for x in sys.modules if x.split(".")[0] in ("numba", "zenoh", "nacl", "llvmlite")
               or x.startswith(("exo_gay.kernels", "exo_gay.mesh", "exo_gay.runner")))
print(json.dumps({{"parts": [[p.node_id, p.start, p.end] for p in parts], "heavy": heavy,
                   "api_run": api.ChatGPTAPI.run.__module__}}))
"""


@pytest.mark.exo
def test_with_the_miner_off_the_plugin_imports_only_the_planner(legacy_exo):
    r = py(MINER_OFF_PROBE.format(pkg=PKG), env_extra={exo_plugin.ENV_STRATEGY: "gay"}, exo=legacy_exo)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["heavy"] == []
    assert out["api_run"] == f"{PKG}.api.chatgpt_api"  # exo's API address is exo's business
    parts = out["parts"]
    assert [p[0] for p in parts][:1] and parts[0][1] == 0.0 and parts[-1][2] == 1.0
    assert all(a[2] == b[1] for a, b in zip(parts, parts[1:], strict=False))  # tiles [0, 1)


FLOPS_PROBE = """
import json
from exo_gay import exo_plugin
from {pkg}.topology.device_capabilities import DeviceCapabilities, DeviceFlops
from types import SimpleNamespace
out = {{}}
zero = DeviceCapabilities(model="Linux Box (H100)", chip="NVIDIA H100", memory=81559,
                          flops=DeviceFlops(fp32=0, fp16=0, int8=0))
node = SimpleNamespace(device_capabilities=zero)
out["off"] = exo_plugin.fill_flops(node, "{pkg}", measure=False) is None and node.device_capabilities is zero
lines = []
f = exo_plugin.fill_flops(node, "{pkg}", log=lines.append, measure=True)
c = node.device_capabilities
out["measured"] = [f.fp32, c.flops.fp32, c.flops.fp16, c.chip, c.memory, lines]
known = DeviceCapabilities(model="m", chip="Apple M3 Max", memory=1, flops=DeviceFlops(fp32=14.2, fp16=28.4, int8=56.8))
node = SimpleNamespace(device_capabilities=known)
out["known"] = exo_plugin.fill_flops(node, "{pkg}") is None and node.device_capabilities is known
print(json.dumps(out))
"""


@pytest.mark.exo
def test_unknown_chip_gets_a_measured_figure_only_when_asked_and_a_known_one_is_kept(legacy_exo):
    r = py(FLOPS_PROBE.format(pkg=PKG), exo=legacy_exo, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["off"] is True and out["known"] is True
    f, fp32, fp16, chip, memory, lines = out["measured"]
    assert f == fp32 > 0 and math.isclose(fp16, 2 * fp32) and chip == "NVIDIA H100" and memory == 81559
    assert "measured" in lines[0]


# -------------------------------------------------- a 3-node exo ring on 127.0.0.1

class Ring(ExoNodes):
    """Three exo nodes of exo's venv: two via `exo-gay exo`, one via exo's own command and the hook."""

    def __init__(self, exo, tmp: Path, tflops: dict[str, float | None], extra: tuple[str, ...] = (),
                 miner: bool = True):
        super().__init__(sorted(tflops), tmp)
        self.tflops = tflops
        for k, i in enumerate(self.ids):
            exo_args = self.exo_args(i, "dummy")
            env = exo.env(fork=PKG == "exe", EXO_HOME=str(tmp / f"home-{i}"), EXO_GAY_TEST_PROBE=PKG)
            env["PYTHONPATH"] = os.pathsep.join(x for x in (str(PROBE), env.get("PYTHONPATH")) if x)
            if miner:
                env[exo_plugin.ENV_MINER] = "1"
            if tflops[i] is not None:  # None: the node measures its color bandwidth
                env[exo_plugin.ENV_TFLOPS] = str(tflops[i])
            # every node states it (the strategy's default may change): both routes read the variable
            env[exo_plugin.ENV_KEEP_ALL] = "0" if "--no-keep-all-nodes" in extra else "1"
            if k == 1:  # exo's own command, selected by the variable through the startup hook
                env[exo_plugin.ENV_STRATEGY] = "gay"
                cmd = [str(exo.python), "-m", f"{PKG}.main", *exo_args]
            else:
                miner_flag = ["--miner"] if miner else []  # the command's flag; the env route uses the variable
                env.pop(exo_plugin.ENV_MINER, None)
                cmd = [str(exo.python), "-m", "exo_gay", "exo", "--module", f"{PKG}.main", *miner_flag, *extra,
                       "--", *exo_args]
            self.start(i, cmd, env, cwd=tmp)

    def wait_until_everyone_sees_everyone(self, timeout: float = 90.0) -> dict:
        """Every node's topology holds every node with the figure that node declared."""
        return self.wait_for_topologies(self._everyone_seen, timeout)

    def _everyone_seen(self, tops: dict) -> bool:
        if not all(sorted(t.get("nodes", {})) == self.ids for t in tops.values()):
            return False
        seen = [{j: t["nodes"][j]["flops"]["fp32"] for j in self.ids} for t in tops.values()]
        return all(v == seen[0] for v in seen) and all(
            (seen[0][j] > 0) if want is None else math.isclose(seen[0][j], want)
            for j, want in self.tflops.items())

    def chat(self, i: str, timeout: float = 60.0) -> dict:
        return http_json(f"http://127.0.0.1:{self.api[i]}/v1/chat/completions",
                         {"model": "dummy", "messages": [{"role": "user", "content": "hello"}]}, timeout=timeout)

    def plans(self, i: str) -> list[dict]:
        return [json.loads(line[len(exo_plugin.PLAN_LOG_PREFIX):]) for line in self.log(i).splitlines()
                if line.startswith(exo_plugin.PLAN_LOG_PREFIX)]



def expected_plan(topology: dict, keep_all: bool) -> dict:
    """What the gay strategy plans for this topology and exo's dummy model (8 layers)."""
    from exo_gay.strategies.gay_strategy import GayShardingStrategy

    s = GayShardingStrategy(objective="latency", keep_all_nodes=keep_all)
    s.observe_model("dummy", 8)
    parts = s.partition(topology["nodes"])
    return exo_plugin.plan_record(("dummy", 8), parts, list(topology["nodes"]), s.costs)


def _running_ring(exo, tmp_path_factory, name, tflops, extra=(), miner=True):
    """A ring whose nodes all see each other, stopped after the module's tests."""
    r = Ring(exo, tmp_path_factory.mktemp(name), tflops, extra=extra, miner=miner)
    try:
        r.tops = r.wait_until_everyone_sees_everyone()
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="module")
def ring(legacy_exo, tmp_path_factory):
    yield from _running_ring(legacy_exo, tmp_path_factory, "exo-ring", {"n1": 10.0, "n2": 5.0, "n3": None})


@pytest.mark.exo
def test_ring_generates_tokens_with_the_gay_plan_on_every_node(ring):
    reply = ring.chat("n1")
    assert reply["usage"]["completion_tokens"] == 10  # exo's dummy engine: 10 tokens, then EOS
    assert reply["choices"][0]["message"]["content"] == "dummy" * 10
    want = expected_plan(ring.tops["n1"], keep_all=True)
    assert len(want["partitions"]) == 3 and not want["left_out"]  # memory allows: everyone has layers
    for i in ring.ids:  # every node planned the same pipeline, with the model it was told
        got = [p for p in ring.plans(i) if p["model"] == "dummy"]
        assert got and got[-1] == want, (i, got, want)


@pytest.mark.exo
def test_every_node_carries_the_same_figures_declared_or_measured(ring):
    views = [{j: ring.topology(i)["nodes"][j]["flops"] for j in ring.ids} for i in ring.ids]
    assert all(v == views[0] for v in views)  # one set of numbers, through exo's topology exchange
    assert views[0]["n1"]["fp32"] == 10.0 and views[0]["n2"]["fp32"] == 5.0
    measured = views[0]["n3"]
    assert measured["fp32"] > 0 and math.isclose(measured["fp16"], 2 * measured["fp32"])
    line = next(x for x in ring.log("n3").splitlines() if "exo lists no TFLOPS" in x)
    rate = float(line.split("measured ")[1].split(" G colors/s")[0]) * 1e9
    # the log rounds the rate to 1e6 colors/s: the figure is rate x 12 / 1e12 within that
    assert abs(measured["fp32"] - rate * exo_plugin.OPS_PER_COLOR / 1e12) <= 1e6 * 12 / 1e12


@pytest.mark.exo
def test_exo_gay_mine_over_the_rings_grpc_ports(ring, tmp_path, cli):
    for i in ring.ids:
        assert "miner service registered" in ring.log(i), ring.log(i)[-2000:]
    seed, per = 7202985, 20000
    bundle = {"seed": seed, "total": per * 3, "expected_xor": None,
              "ranges": [{"host": h, "start": k * per, "count": per, "polarity": k % 3}
                         for k, h in enumerate(ring.ids)]}
    (tmp_path / "b.json").write_text(json.dumps(bundle))
    r = cli("mine", "--bundle", str(tmp_path / "b.json"), "--peers", str(ring.cluster), "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["verified"] is True and out["combined"]["xor"] == hex(spi.xor_range(seed, 0, per * 3))
    for k, h in enumerate(out["hosts"]):
        assert h["fingerprint"] == hex(spi.xor_range(seed, k * per, per))
    # the miners that answered are the exo nodes themselves (node ids, on exo's gRPC ports)
    assert sorted(m["node_id"] for m in out["miners"] if m["colors"] > 0) == ring.ids


COORDINATOR_PROBE = """
import asyncio, json, sys
from types import SimpleNamespace
from {pkg}.networking.grpc.grpc_peer_handle import GRPCPeerHandle
from {pkg}.topology.device_capabilities import UNKNOWN_DEVICE_CAPABILITIES
from exo_gay import exo_plugin
from exo_gay.bundle import parse_bundle

grpc_ports = json.loads(sys.argv[1])
ids = sorted(grpc_ports)
seed, per = 42, 5000
bundle = parse_bundle({{"seed": seed, "total": 3 * per, "expected_xor": None, "ranges": [
    {{"host": h, "start": k * per, "count": per, "polarity": k % 3}} for k, h in enumerate(ids)]}})

async def main():
    peers = [GRPCPeerHandle(i, f"127.0.0.1:{{grpc_ports[i]}}", "MAN", UNKNOWN_DEVICE_CAPABILITIES)
             for i in ids if i != ids[0]]
    for p in peers:
        await asyncio.wait_for(p.connect(), 10)
    node = SimpleNamespace(id=ids[0], peers=peers, server=SimpleNamespace(host="127.0.0.1", port=grpc_ports[ids[0]]))
    miners = exo_plugin.node_miners(node)
    same = [m.channel for m in miners[1:]] == [p.channel for p in peers]  # exo's channels, as they are
    report = await asyncio.wait_for(exo_plugin.mine_from_node(node, bundle), 60)
    alive = [await asyncio.wait_for(p.health_check(), 10) for p in peers]  # still exo's, still open
    for p in peers:
        await p.disconnect()
    print(json.dumps({{"miners": [[m.node_id, m.channel is not None] for m in miners], "same_channels": same,
                      "report": report.to_json(), "alive": alive}}))

asyncio.run(main())
"""


@pytest.mark.exo
def test_coordinator_inside_a_node_uses_exos_peer_channels(ring, legacy_exo):
    """A node's view: exo's own GRPCPeerHandles, connected; the coordinator rides their channels."""
    r = subprocess.run([str(legacy_exo.python), "-c", COORDINATOR_PROBE.format(pkg=PKG), json.dumps(ring.grpc)],
                       capture_output=True, text=True, timeout=120, cwd=ROOT, env=legacy_exo.env(fork=PKG == "exe"))
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["miners"] == [["n1", False], ["n2", True], ["n3", True]] and out["same_channels"] is True
    assert out["report"]["verified"] is True and out["report"]["combined"]["xor"] == hex(spi.xor_range(42, 0, 15000))
    assert out["alive"] == [True, True]


@pytest.fixture(scope="module")
def lean_ring(legacy_exo, tmp_path_factory):
    yield from _running_ring(legacy_exo, tmp_path_factory, "exo-lean", {"a1": 10.0, "a2": 10.0, "a3": 0.01},
                             extra=("--no-keep-all-nodes",), miner=False)


@pytest.mark.exo
def test_node_left_out_by_the_latency_plan_still_serves_the_api(lean_ring):
    want = expected_plan(lean_ring.tops["a1"], keep_all=False)
    assert want["left_out"], want  # the slow node (at least) is not in the pipeline
    outsider = want["left_out"][0]
    reply = lean_ring.chat(outsider)
    assert reply["usage"]["completion_tokens"] == 10
    assert reply["choices"][0]["message"]["content"] == "dummy" * 10
    assert [p for p in lean_ring.plans(outsider) if p["model"] == "dummy"][-1] == want


@pytest.mark.exo
def test_without_the_miner_a_node_starts_no_miner_and_measures_nothing(lean_ring):
    for i in lean_ring.ids:
        text = lean_ring.log(i)
        assert "exo-gay: plan " in text  # the plugin is in
        assert "miner service registered" not in text and "measured" not in text, text[-2000:]
    # exo's API, still on loopback (the test probe), answered: exo-gay does not touch its address


def test_plan_lines_reach_the_node_log_under_the_cli_logging():
    """`exo-gay exo` sets up the CLI's stderr handler (warnings) before exo runs; the plan lines
    (INFO) must still reach the node's stdout, once, and the CLI's stderr must stay quiet."""
    code = ("import logging; from exo_gay import cli, exo_plugin; cli.setup_logging(0, 'exo-gay exo'); "
            "exo_plugin.ensure_log_handler(); exo_plugin.log_plan(('m', 8), [], ['a']); "
            "logging.getLogger('exo_gay.exo_plugin').warning('exo-gay: careful')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    plan_lines = [ln for ln in r.stdout.splitlines() if ln.startswith(exo_plugin.PLAN_LOG_PREFIX)]
    assert len(plan_lines) == 1
    assert r.stderr.splitlines() == ["exo-gay exo: warning: careful"]


# ------------------------------------------------------------------ exo-gay doctor

def doctor(python: str, *args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "exo_gay", "doctor", *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=cwd)


@pytest.mark.skipif(OUTER_HAS_EXO, reason="exo is importable in the Python running pytest")
def test_doctor_without_exo_exits_1_and_its_first_line_says_the_fix():
    r = doctor(sys.executable, "--model", "llama-3.2-1b")
    assert r.returncode == 1, r.stderr
    first, *rest = r.stdout.splitlines()
    assert first.startswith("plugin: will NOT load: neither exe.main nor exo.main is importable")
    assert "pip install 'exo @ git+https://github.com/exo-explore/exo.git@5f18faec" in first
    assert "exo: exo.main not importable" in rest
    assert any(x.startswith("costs: llama-3.2-1b: 16 layers, 695,242,752 bytes, from card table") for x in rest)
    assert any(x.startswith("miner: off") for x in rest)


def test_doctor_refuses_a_package_named_exo_that_is_not_legacy_exo(tmp_path):
    """exo v1 (or anything else) named exo, with a main but not the legacy layout: the plugin will not load."""
    (tmp_path / "exo").mkdir()
    (tmp_path / "exo" / "__init__.py").write_text("")
    (tmp_path / "exo" / "main.py").write_text("raise SystemExit('not to be run')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    r = doctor(sys.executable, "--json", env=env)
    assert r.returncode == 1, r.stderr
    rep = json.loads(r.stdout)
    assert rep["exo"]["importable"] is True and rep["plugin"]["loads"] is False
    assert "exo.topology" in rep["plugin"]["why_not"]


def test_doctor_bad_model_is_one_line_exit_2(cli):
    r = cli("doctor", "--model", "no-such-org/no-such-model")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no-such-org/no-such-model" in r.stderr


@pytest.mark.exo
def test_doctor_in_exos_venv_says_the_plugin_loads_by_both_routes(legacy_exo, tmp_path):
    env = legacy_exo.env(**{exo_plugin.ENV_STRATEGY: "gay"})
    r = doctor(str(legacy_exo.python), "--model", "llama-3.2-1b", "--json", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(r.stdout)
    assert rep["plugin"] == {"loads": True, "module": "exo.main", "why_not": None}
    assert rep["exo"]["version"] == "0.0.1" and rep["exe"]["importable"] is False
    assert rep["python"]["version"].startswith("3.12")
    # exo's own pins are met here, except tinygrad (a git URL in exo's setup.py, its release here)
    assert rep["pins"]["missing"] == [] and [d.split()[0] for d in rep["pins"]["differ"]] == ["tinygrad"]
    assert rep["routes"]["hook"]["active"] is True and rep["routes"]["hook"]["pth"]
    assert rep["costs"]["source"].startswith("card table") and rep["costs"]["weight_bytes"] == 695242752
    assert rep["miner"]["on"] is False
    # the variable unset and the miner on: the hook is there but idle, the miner says what it will use
    env = legacy_exo.env(**{exo_plugin.ENV_MINER: "1"})
    r = doctor(str(legacy_exo.python), env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "plugin: loads into exo.main"
    assert any("variable not set to gay" in x and "exo's default strategy" in x for x in lines)
    assert any(x.startswith("miner: on (EXO_GAY_MINER=1") for x in lines)


@pytest.mark.exo
def test_doctor_with_the_exe_fork_on_the_path_picks_the_fork(legacy_exo, tmp_path):
    r = doctor(str(legacy_exo.python), "--json", env=legacy_exo.env(fork=True), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(r.stdout)
    assert rep["plugin"]["module"] == "exe.main" and rep["plugin"]["loads"] is True
    assert rep["exe"]["importable"] and rep["exe"]["path"].startswith(str(legacy_exo.fork_path))
