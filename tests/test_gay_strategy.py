"""GayShardingStrategy as exo uses it: fractions map back to exactly the planned layers."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exo_gay.spi import fnv1a
from exo_gay.strategies.gay_strategy import GayShardingStrategy, fallback_split
from exo_gay.strategies.nodes import nodes_from_topology, ring_order

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "configs" / "models" / "llama-3.1-8b-instruct-4bit.json")


def exo_map(partitions, n_layers):
    """exo's map_partitions_to_shards as exo's code has it: [(start, end_inclusive)]."""
    shards = []
    for i, p in enumerate(partitions):
        start, end = int(p.start * n_layers), int(p.end * n_layers) - 1
        if i == len(partitions) - 1:
            end = n_layers - 1
        if start <= end:
            shards.append((start, end))
    if shards and shards[-1][1] < n_layers - 1:
        shards[-1] = (shards[-1][0], n_layers - 1)
    return shards


def caps(mb, tflops=0.0):
    return {"model": "m", "chip": "c", "memory": mb, "flops": {"fp32": 0, "fp16": tflops, "int8": 0}}


class Topo:
    def __init__(self, nodes):
        self.nodes = nodes


def assert_exo_gets_the_plan(strategy, topo, n_layers):
    parts = strategy.partition(topo)
    shards = exo_map(parts, n_layers)
    assert len(shards) == len(parts)  # nothing dropped: the shard list lines up with the partitions
    covered = [i for s, e in shards for i in range(s, e + 1)]
    assert covered == list(range(n_layers))  # every layer exactly once, in ring order
    plan = strategy.last_plan
    if plan is not None:
        planned = [(plan.segments[j][0], plan.segments[j][1] - 1) for j in plan.order]  # pipeline order
        assert shards == planned
    return parts, shards


@settings(max_examples=40, deadline=None)
@given(mems=st.lists(st.integers(0, 65536), min_size=1, max_size=8),
       tf=st.lists(st.sampled_from([0.0, 4.58, 7.1, 28.4]), min_size=8, max_size=8),
       objective=st.sampled_from(["latency", "throughput"]), seed=st.integers(0, 2**32 - 1))
def test_relabel_and_reorder_give_same_plan_and_exact_layers(mems, tf, objective, seed):
    nodes = {f"node-{i}": caps(m, tf[i]) for i, m in enumerate(mems)}
    s1 = GayShardingStrategy(objective=objective, model=CONFIG, context_tokens=2048)
    s1.observe_model(CONFIG, 32)
    parts1, _ = assert_exo_gets_the_plan(s1, Topo(nodes), 32)
    # the same cluster with dict entries in another order: identical partitions
    items = list(nodes.items())
    random.Random(seed).shuffle(items)
    s2 = GayShardingStrategy(objective=objective, model=CONFIG, context_tokens=2048)
    s2.observe_model(CONFIG, 32)
    assert s2.partition(Topo(dict(items))) == parts1
    # relabelled nodes: the same layer counts for the same (memory, speed) in ring order
    relabel = {f"node-{i}": f"x{fnv1a(str(i)) % 997}-{i}" for i in range(len(mems))}
    s3 = GayShardingStrategy(objective=objective, model=CONFIG, context_tokens=2048)
    s3.observe_model(CONFIG, 32)
    s3.partition(Topo({relabel[k]: v for k, v in items}))

    def profile(strategy, topo):
        ring = ring_order(nodes_from_topology(topo))
        plan = strategy.last_plan
        if plan is None:
            return None
        return sorted((n.budget_bytes, n.gbps, e - s) for n, (s, e) in zip(ring, plan.segments, strict=True))

    assert profile(s3, Topo({relabel[k]: v for k, v in items})) == profile(s1, Topo(nodes))


def test_exo_regression_100_1_1_mb_16_layers():
    topo = Topo({"a": caps(100), "b": caps(1), "c": caps(1)})
    s = GayShardingStrategy(context_tokens=0, headroom=0.0)
    s.observe_model("tiny-unknown-model", 16)  # not on disk: uniform layers, 256 MiB each
    parts = s.partition(topo)  # nothing fits: falls back, still without zero-layer partitions
    assert s.last_error
    assert len(exo_map(parts, 16)) == len(parts) == 3


def test_tiny_layers_fit_on_the_big_node_only():
    # a model small enough for node "a" alone; "b" and "c" (1 MB) cannot hold a 4 MB layer
    MB = 2**20
    from exo_gay.strategies import checkpoint as model_costs

    costs = model_costs.ModelCosts("tiny", (model_costs.LayerCost(0, 0, 4 * MB, 0),) * 16, 0, 0, 0, False)
    s = GayShardingStrategy(context_tokens=0, headroom=0.0)
    s.costs, s._model_key = costs, ("tiny", 16)
    parts, shards = assert_exo_gets_the_plan(s, Topo({"a": caps(100), "b": caps(1), "c": caps(1)}), 16)
    assert [p.node_id for p in parts] == ["a"] and shards == [(0, 15)]


def test_seven_layers_two_nodes():
    from exo_gay.strategies import checkpoint as model_costs

    costs = model_costs.ModelCosts("seven", (model_costs.LayerCost(0, 0, 2**20, 0),) * 7, 0, 0, 0, False)
    s = GayShardingStrategy(objective="throughput", context_tokens=0, hop_ms=0.0)  # free hops: split pays
    s.costs, s._model_key = costs, ("seven", 7)
    _, shards = assert_exo_gets_the_plan(s, Topo({"a": caps(8192), "b": caps(8192)}), 7)
    assert sorted(e - s0 + 1 for s0, e in shards) == [3, 4]


def test_one_node_and_more_nodes_than_layers():
    from exo_gay.strategies import checkpoint as model_costs

    costs = model_costs.ModelCosts("two", (model_costs.LayerCost(0, 0, 2**20, 0),) * 2, 0, 0, 0, False)
    s = GayShardingStrategy(context_tokens=0)
    s.costs, s._model_key = costs, ("two", 2)
    parts, shards = assert_exo_gets_the_plan(s, Topo({"solo": caps(8192)}), 2)
    assert shards == [(0, 1)]
    parts, shards = assert_exo_gets_the_plan(s, Topo({f"n{i}": caps(8192) for i in range(5)}), 2)
    assert 1 <= len(parts) <= 2


@pytest.mark.parametrize("n_nodes", [1, 2, 3, 7, 16, 34])
def test_fallback_split_is_zero_layer_safe(n_nodes):
    rng = random.Random(n_nodes)
    topo = Topo({f"n{i}": caps(rng.choice([0, 8192, 16384, 196608]), rng.choice([0, 7.1, 53.96]))
                 for i in range(n_nodes)})
    s = GayShardingStrategy()  # no model yet
    parts = s.partition(topo)
    assert len(parts) == n_nodes and s.last_plan is None
    for n_layers in range(max(16, n_nodes), 400):
        assert len(exo_map(parts, n_layers)) == n_nodes


def test_unknown_model_uses_an_estimate_sized_from_its_id_and_warns_once(caplog):
    s = GayShardingStrategy()
    with caplog.at_level(logging.INFO, logger="exo_gay"):
        s.observe_model("someone/Made-Up-70B-4bit", 80)
        s.partition(Topo({"a": caps(65536, 28.4), "b": caps(65536, 28.4)}))
        s.observe_model("someone/Made-Up-70B-4bit", 80)
    assert s.costs.source.startswith("estimate from the name (70B parameters at 4 bits)")
    assert s.costs.total_weight_bytes() == pytest.approx(70e9 * 4 / 8, rel=1e-6)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "someone/Made-Up-70B-4bit" in warnings[0] and "nothing is fetched" in warnings[0]
    plan_lines = [r.getMessage() for r in caplog.records if "plan for" in r.getMessage()]
    assert plan_lines and "costs from estimate from the name" in plan_lines[0]


def test_model_found_in_hugging_face_cache(tmp_path, monkeypatch):
    snap = tmp_path / "hub" / "models--acme--Tiny-Llama-4bit" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    cfg = json.load(open(CONFIG))
    snap.joinpath("config.json").write_text(json.dumps(cfg))
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    s = GayShardingStrategy()
    s.observe_model("acme/Tiny-Llama-4bit", 32)
    assert s.costs.source.endswith("config.json") and s.costs.n_layers == 32


def test_model_found_in_exo_downloads(tmp_path, monkeypatch):
    d = tmp_path / "downloads" / "acme--Exo-Llama-4bit"
    d.mkdir(parents=True)
    d.joinpath("config.json").write_text(open(CONFIG).read())
    monkeypatch.setenv("EXO_HOME", str(tmp_path))
    s = GayShardingStrategy()
    s.observe_model("acme/Exo-Llama-4bit", 32)
    assert s.costs.source == f"config file {d / 'config.json'}"


def test_cached_plan_is_reused():
    s = GayShardingStrategy(model=CONFIG)
    topo = Topo({"a": caps(16384, 7.1), "b": caps(8192, 4.58)})
    first = s.partition(topo)
    assert s.partition(topo) is first  # same list object: served from the cache
    assert len(s._cache) == 1


def test_measured_speed_beats_flops_and_file_beats_measured():
    topo = Topo({"a": {"device_capabilities": caps(16384, 7.1), "gay": {"mem_bandwidth_gbs": 400}},
                 "b": caps(16384, 7.1)})
    nodes = {n.node_id: n for n in nodes_from_topology(topo, measured={"a": {"mem_bandwidth_gbs": 50},
                                                                         "b": {"mem_bandwidth_gbs": 50}})}
    assert nodes["a"].speed_source == "cluster file" and nodes["b"].speed_source == "measured"
    assert nodes["a"].gbps > nodes["b"].gbps > 0


def test_zero_speed_everywhere_does_not_divide_by_zero():
    s = GayShardingStrategy(model=CONFIG)
    parts = s.partition(Topo({"a": caps(16384), "b": caps(16384)}))
    assert parts and all(n.gbps > 0 for n in nodes_from_topology(Topo({"a": caps(16384)})))


def test_fallback_split_weights_by_memory_and_speed():
    ring = ring_order(nodes_from_topology(Topo({"big": caps(65536, 28.4), "small": caps(8192, 7.1)})))
    (a, a0, a1), (b, b0, b1) = fallback_split(ring)
    assert a == "big" and a1 - a0 > b1 - b0 > 0


# ------------------------------------------------------------------ exo's cards: the same plan everywhere

EXO_TOPO = {"m3max": caps(65536, 28.4), "m2": caps(24576, 7.1), "m1": caps(16384, 4.58)}


def _stage_card_config(home: Path, repo: str, config: dict) -> Path:
    d = home / "downloads" / repo.replace("/", "--")
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(config))
    return d / "config.json"


@pytest.mark.parametrize("card_id", ["llama-3.1-70b", "qwen-2.5-7b", "deepseek-coder-v2-lite", "gemma2-27b"])
def test_a_node_with_the_config_on_disk_and_one_without_plan_alike(card_id, tmp_path, monkeypatch, caplog):
    """exo computes the plan on every node: downloaded or not, the node must reach the same plan."""
    from exo_gay.strategies.cards import card_table

    card = card_table()[card_id]
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "no-hf"))
    monkeypatch.chdir(tmp_path)

    def plan_on(home: Path):
        monkeypatch.setenv("EXO_HOME", str(home))
        s = GayShardingStrategy()
        s.observe_model(card_id, card.exo_layers)
        parts = s.partition(Topo(EXO_TOPO))
        return s, [(p.node_id, p.start, p.end) for p in parts]

    without, plan_without = plan_on(tmp_path / "fresh-node")
    disk = _stage_card_config(tmp_path / "downloaded-node", card.repo, card.config)
    with caplog.at_level(logging.INFO, logger="exo_gay"):
        with_cfg, plan_with = plan_on(tmp_path / "downloaded-node")
    assert plan_with == plan_without and with_cfg.last_plan.segments == without.last_plan.segments
    assert without.costs.source == with_cfg.costs.source == f"card table ({card_id} -> {card.repo})"
    assert any("agrees" in r.getMessage() and str(disk) in r.getMessage() for r in caplog.records)
    assert without.last_error == "" and len(plan_without) >= 1  # planned from real costs

    # a config on disk that disagrees (another model under the same folder): the table wins, with a warning
    odd = dict(card.config, num_hidden_layers=card.config.get("num_hidden_layers", 8) // 2) \
        if "text_config" not in card.config else card.config
    _stage_card_config(tmp_path / "odd-node", card.repo, odd)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="exo_gay"):
        odd_s, plan_odd = plan_on(tmp_path / "odd-node")
    assert plan_odd == plan_without and odd_s.costs == without.costs
    assert any("card table wins" in r.getMessage() for r in caplog.records)


def test_card_ids_and_repos_resolve_to_the_card_and_exo_layer_count():
    from exo_gay.strategies.cards import card_table, find_card, fit_layers, resolve

    for card in card_table().values():
        assert find_card(card.card_id) is card and find_card(card.repo) is card
        costs = fit_layers(resolve(card.card_id), card.exo_layers)
        assert costs.n_layers == card.exo_layers
    q = fit_layers(resolve("qwen-2.5-0.5b"), 28)  # exo's card declares 28 layers, the model has 24
    assert [ly.weights > 0 for ly in q.layers] == [True] * 24 + [False] * 4


def test_a_card_with_an_estimated_fact_says_so_in_its_source():
    from exo_gay.strategies.cards import card_table
    from exo_gay.strategies.model_costs import load_costs

    estimated = [c for c in card_table().values() if c.estimate]
    assert estimated  # the table records some (e.g. a quantization read from a repo name only)
    for card in estimated:
        assert load_costs(card.card_id).source.endswith("estimated)")
    exact = next(c for c in card_table().values() if not c.estimate)
    assert "estimated" not in load_costs(exact.card_id).source


def test_chip_table_then_measurement_then_cluster_file_and_colors_are_never_bandwidth():
    m3 = {"model": "m", "chip": "Apple M3 Max", "memory": 36864, "flops": {"fp32": 14.2, "fp16": 28.4, "int8": 0}}
    nodes = {n.node_id: n for n in nodes_from_topology(
        Topo({"table": m3, "measured": m3, "file": {"device_capabilities": m3, "gay": {"mem_bandwidth_gbs": 300}},
              "miner": {"device_capabilities": caps(16384, 7.1), "gay": {"colors_per_second": 1.62e9}}}),
        measured={"measured": {"mem_bandwidth_gbs": 250, "tflops": 20}})}
    assert (nodes["table"].speed_source, nodes["table"].declared_gbps) == ("chip table", 400)
    assert "apple.com" in nodes["table"].reference and nodes["table"].compute_source == "exo flops"
    assert (nodes["measured"].speed_source, nodes["measured"].declared_gbps) == ("measured", 250)
    assert (nodes["measured"].compute_source, nodes["measured"].declared_tflops) == ("measured", 20)
    assert (nodes["file"].speed_source, nodes["file"].declared_gbps) == ("cluster file", 300)
    # a mining rate is no memory bandwidth: the unknown chip gets the median of the known, not 1.62e9 / 5.1e6
    miner = nodes["miner"]
    assert miner.speed_source == "median of known" and miner.colors_per_second == 1.62e9
    assert miner.declared_gbps in (250, 300, 400)


def test_measurement_is_cached_per_machine_outside_site_packages(tmp_path, monkeypatch):
    from exo_gay.strategies import measure

    monkeypatch.setenv("EXO_GAY_CACHE", str(tmp_path))
    monkeypatch.setattr(measure, "STREAM_BYTES", 16 * 2**20)  # small: the machine is shared
    monkeypatch.setattr(measure, "MATMUL_N", 256)
    first = measure.measure_machine()
    assert first["mem_bandwidth_gbs"] > 0 and first["tflops"] > 0 and first["cached"] == ""
    files = list((tmp_path / "machine").glob("*.json"))
    assert len(files) == 1 and "site-packages" not in str(files[0])
    again = measure.measure_machine()
    assert again["cached"] == str(files[0]) and again["mem_bandwidth_gbs"] == first["mem_bandwidth_gbs"]


def test_a_nodes_polarity_is_the_term_that_bounds_it():
    """Dense llama at a short context: FFN bytes dominate (PLUS). DeepSeek's MLA cache at 32k: attention + KV."""
    from exo_gay.strategies.model_costs import load_costs
    from exo_gay.strategies.planner import solve
    from exo_gay.strategies.problem import make_problem

    ring = ring_order(nodes_from_topology(Topo({"a": {"model": "m", "chip": "Apple M2 Ultra", "memory": 196608}})))
    for card, context, want in (("llama-3.1-8b", 512, "PLUS"), ("deepseek-coder-v2-lite", 32768, "MINUS")):
        costs = load_costs(card)
        plan = solve(make_problem(costs, ring, context, 3.0), "latency", choose_order=True)
        # independently: bytes a token streams, by part (attention weights + KV at the context vs FFN)
        attn = sum(ly.attention + ly.kv_bytes(context) for ly in costs.layers)
        ffn = sum(ly.ffn_read for ly in costs.layers) + costs.head
        assert plan.polarity(0) == want == ("MINUS" if attn > ffn else "PLUS")
