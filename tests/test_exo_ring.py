"""The real MLX ring: legacy exo's MLX engine, a tiny Llama made here, three nodes, three launch routes.

Exo's venv (tests/exo_legacy_env.py) runs every process. The model (tests/tiny_llama.py: random weights, a
BPE tokenizer trained on the spot, 16 layers like exo's card `llama-3.2-1b`) is staged where exo's
downloader finds that card's files, so nothing is downloaded. The nodes, on 127.0.0.1 with manual discovery:

* hatchery  -- `exo-gay exo --module exo.main -- ...`                        (exo-gay's command)
* 2-monad   -- `EXO_PARTITIONING_STRATEGY=gay python -m exo.main ...`       (exo's command, the hook)
* causality -- `EXO_PARTITIONING_STRATEGY=gay python -m exe.main --node-id causality ...`  (the exe fork,
  made by the fixture from the same snapshot)

A chat completion is sent to the exe node's API. Checked: every node's tokens equal mlx-lm's own greedy
tokens for the same prompt (no exo), every node logs the same plan, the plan tiles the layers and gives
every node layers, and each node's MLX engine holds exactly the layers exo's own shard mapping assigns
it from that plan.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import exo_legacy_env
import pytest
from netutil import ExoNodes, http_json

from exo_gay import exo_plugin

legacy_exo = exo_legacy_env.legacy_exo  # the session fixture: exo's venv

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROBE = HERE / "exo_probe"
CARD = "llama-3.2-1b"                             # exo's card: 16 layers
REPO = "mlx-community/Llama-3.2-1B-Instruct-4bit"  # the card's MLX repo (where exo's downloader looks)
LAYERS = 16
PROMPT = "Tell me about the exo ring."
MAX_TOKENS = 16
# id -> (launch route, declared fp32 TFLOPS)
NODES = {"hatchery": ("cli", 10.0), "2-monad": ("env", 5.0), "causality": ("exe", 2.5)}
pytestmark = [pytest.mark.exo, pytest.mark.slow]


def stage(model_dir: Path, exo_home: Path, tmpdir: Path) -> None:
    """Put the model where exo's downloader (exo/download/new_shard_download.py) finds REPO's files.

    It keeps files already in $EXO_HOME/downloads/<org>--<name>/, and asks the Hub for nothing when
    $TMPDIR/exo/<org>--<name>/model.safetensors.index.json and $TMPDIR/exo/<org>--<name>--main--file_list.json
    exist (its weight map and file list caches).
    """
    folder = REPO.replace("/", "--")
    target = exo_home / "downloads" / folder
    target.mkdir(parents=True)
    files = sorted(p for p in model_dir.iterdir() if p.is_file())
    for p in files:
        (target / p.name).symlink_to(p)
    cache = tmpdir / "exo" / folder
    cache.mkdir(parents=True)
    (cache / "model.safetensors.index.json").write_text((model_dir / "model.safetensors.index.json").read_text())
    (tmpdir / "exo" / f"{folder}--main--file_list.json").write_text(
        json.dumps([{"path": p.name, "size": p.stat().st_size} for p in files]))


def exo_shards(exo, partitions: list, tmp: Path) -> dict:
    """exo's own map_partitions_to_shards on the logged plan, run in exo's venv: {node: [start, end]}."""
    code = ("import json, sys\n"
            "from exo.topology.partitioning_strategy import Partition, map_partitions_to_shards\n"
            "parts = [Partition(n, a, b) for n, a, b in json.loads(sys.argv[1])]\n"
            f"shards = map_partitions_to_shards(parts, {LAYERS}, '{CARD}')\n"
            "print(json.dumps({p.node_id: [s.start_layer, s.end_layer] for p, s in zip(parts, shards)}))")
    r = subprocess.run([str(exo.python), "-c", code, json.dumps(partitions)], capture_output=True, text=True,
                       cwd=tmp, env=exo.env(), timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


class MlxRing(ExoNodes):
    stop_wait_s = 15.0

    def __init__(self, exo, tmp: Path, model_dir: Path):
        super().__init__(NODES, tmp)
        for i, (route, tflops) in NODES.items():
            home, tmpdir, cwd = tmp / f"home-{i}", tmp / f"tmp-{i}", tmp / f"cwd-{i}"
            stage(model_dir, home, tmpdir)
            cwd.mkdir()
            exo_args = [*self.exo_args(i, "mlx"), "--max-generate-tokens", str(MAX_TOKENS), "--default-temp", "0"]
            pkg = "exe" if route == "exe" else "exo"
            env = exo.env(fork=route == "exe", EXO_HOME=str(home), TMPDIR=str(tmpdir),
                          EXO_GAY_TEST_PROBE=pkg, EXO_GAY_TEST_LOADS="1")
            env["PYTHONPATH"] = os.pathsep.join(x for x in (str(PROBE), env.get("PYTHONPATH")) if x)
            env[exo_plugin.ENV_TFLOPS] = str(tflops)
            env[exo_plugin.ENV_KEEP_ALL] = "1"  # every node keeps layers (memory allows), whatever the default
            if route == "cli":
                cmd = [str(exo.python), "-m", "exo_gay", "exo", "--module", "exo.main", "--", *exo_args]
            else:
                env[exo_plugin.ENV_STRATEGY] = "gay"
                cmd = [str(exo.python), "-m", f"{pkg}.main", *exo_args]
            self.start(i, cmd, env, cwd=cwd)

    def lines(self, i: str, prefix: str) -> list[dict]:
        return [json.loads(x[len(prefix):]) for x in self.log(i).splitlines() if x.startswith(prefix)]

    def wait_ready(self, timeout: float = 240.0) -> None:
        self.wait_for_topologies(self._ready, timeout)

    def _ready(self, tops: dict) -> bool:
        figures = [{j: t["nodes"][j]["flops"]["fp32"] for j in self.ids}
                   for t in tops.values() if sorted(t.get("nodes", {})) == sorted(self.ids)]
        return len(figures) == len(self.ids) and all(f == {i: tf for i, (_, tf) in NODES.items()} for f in figures)


@pytest.fixture(scope="module")
def tiny_model(legacy_exo, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tiny-llama") / "model"
    run = dict(capture_output=True, text=True, cwd=out.parent, env=legacy_exo.env(), timeout=300)
    r = subprocess.run([str(legacy_exo.python), str(HERE / "tiny_llama.py"), "build", str(out), "--layers",
                        str(LAYERS), "--corpus", str(ROOT / "docs"), "--corpus", str(legacy_exo.exo_src / "docs")],
                       **run)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([str(legacy_exo.python), str(HERE / "tiny_llama.py"), "reference", str(out), PROMPT,
                        str(MAX_TOKENS)], **run)
    assert r.returncode == 0, r.stderr[-3000:]
    return out, json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def mlx_ring(legacy_exo, tiny_model, tmp_path_factory):
    model_dir, reference = tiny_model
    tmp = tmp_path_factory.mktemp("mlx-ring")
    ring = MlxRing(legacy_exo, tmp, model_dir)
    try:
        ring.wait_ready()
        body = {"model": CARD, "messages": [{"role": "user", "content": PROMPT}], "temperature": 0}
        ring.reply = http_json(f"http://127.0.0.1:{ring.api['causality']}/v1/chat/completions", body, timeout=300)
        deadline = time.monotonic() + 30  # results reach the other nodes by exo's broadcast
        while time.monotonic() < deadline and not all(ring.lines(i, "exo-gay-test: tokens ") for i in ring.ids):
            time.sleep(0.5)
        ring.reference = reference
        ring.partitions_to_shards = lambda parts: exo_shards(legacy_exo, parts, tmp)
        yield ring
    finally:
        ring.stop()


def test_reference_is_not_a_degenerate_sequence(tiny_model):
    tokens = tiny_model[1]["tokens"]
    assert len(tokens) >= 8 and len(set(tokens)) >= 4, tokens  # "equal tokens" must be able to fail


def test_every_node_including_the_exe_fork_generates_mlx_lms_tokens(mlx_ring):
    assert mlx_ring.reply["choices"][0]["finish_reason"] in ("stop", "length")
    want = mlx_ring.reference["tokens"]
    for i in mlx_ring.ids:
        got = mlx_ring.lines(i, "exo-gay-test: tokens ")
        assert got, f"{i} logged no tokens:\n{mlx_ring.log(i)[-2000:]}"
        assert got[-1]["tokens"] == want, (i, got[-1]["tokens"], want)


def test_every_node_logs_the_same_plan_and_it_tiles_the_model(mlx_ring):
    plans = {i: [p for p in mlx_ring.lines(i, exo_plugin.PLAN_LOG_PREFIX) if p["model"] == CARD]
             for i in mlx_ring.ids}
    last = {i: p[-1] for i, p in plans.items() if p}
    assert sorted(last) == sorted(mlx_ring.ids), {i: mlx_ring.log(i)[-1500:] for i in mlx_ring.ids if i not in last}
    assert len({json.dumps(p, sort_keys=True) for p in last.values()}) == 1, last
    plan = last["causality"]
    assert plan["n_layers"] == LAYERS and plan["costs"].startswith("card table")
    parts = plan["partitions"]
    assert parts[0][1] == 0 and parts[-1][2] == 1 and all(a[2] == b[1] for a, b in zip(parts, parts[1:], strict=False))
    assert sorted(p[0] for p in parts) == sorted(mlx_ring.ids) and plan["left_out"] == []  # memory allows all


def test_each_node_holds_exactly_its_planned_layers(mlx_ring):
    plan = [p for p in mlx_ring.lines("hatchery", exo_plugin.PLAN_LOG_PREFIX) if p["model"] == CARD][-1]
    shards = mlx_ring.partitions_to_shards(plan["partitions"])
    covered = []
    for i in mlx_ring.ids:
        loads = mlx_ring.lines(i, "exo-gay-test: loaded ")
        assert loads, f"{i} loaded nothing:\n{mlx_ring.log(i)[-2000:]}"
        start, end = shards[i]
        assert loads[-1]["shard"] == [start, end, LAYERS]
        assert loads[-1]["layers"] == list(range(start, end + 1)), (i, loads[-1], shards[i])
        covered += loads[-1]["layers"]
    assert sorted(covered) == list(range(LAYERS))  # every layer held once, across the ring


def test_the_exe_node_ran_the_fork_with_the_plugin(mlx_ring):
    text = mlx_ring.log("causality")
    assert "exo-gay: plan " in text and "exo-gay-test: loaded " in text
    assert "miner service registered" not in text and "measured" not in text  # the miner is opt-in
