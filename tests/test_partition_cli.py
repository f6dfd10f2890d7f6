"""`exo-gay partition` as a user runs it: real processes, real files."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
MODEL = "configs/models/llama-3.1-70b-instruct-4bit.json"
CLUSTER = "configs/cluster.example.json"


def run(*args):
    return run_cli("partition", *args)


def test_example_cluster_exo_default_runs_out_of_memory_ours_fits(tmp_path):
    svg = tmp_path / "ring.svg"
    r = run("--model", MODEL, "--cluster", CLUSTER, "--context", "32768", "--json", "--svg", str(svg))
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["exo_default"]["out_of_memory"]  # exo's split does not fit
    assert rep["exo_default"]["runs"] is False  # its figures are shown, but it makes no tokens
    rows = rep["plan"]["nodes"]
    assert all(row["fits"] for row in rows)
    # every layer exactly once, in ring order
    layers = [i for row in rows for i in range(*row["layers"])]
    assert layers == list(range(80))
    # the JSON carries what the plan used: per-layer costs and per-node budgets and speeds
    assert len(rep["costs"]["layers"]) == 80 and all("gbps" in n and "budget_bytes" in n for n in rep["nodes"])
    # a node's polarity is the term that takes most of its time, and the terms add up to its stage time
    for row in rows:
        t = row["terms_ms"]
        assert row["bound"] == max(("MINUS", "ERGODIC", "PLUS"), key=lambda k: t[k])
        assert sum(t.values()) == pytest.approx(row["ms_per_token"], rel=1e-3)
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    slices = [e for e in root.iter() if e.tag.endswith("path") and e.get("class") is None]
    assert len(slices) == 2 * 80  # one slice per layer, in each of the two rings
    bands = [e for e in root.iter() if e.tag.endswith("path") and e.get("class") == "node-band"]
    assert len(bands) == 2 * 4  # every node has layers in both plans here: one outer band each
    assert svg.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    import os

    old = os.umask(0)
    os.umask(old)
    return old


SVG = "{http://www.w3.org/2000/svg}"


def _texts(root, cls=None):
    return [e for e in root.iter(f"{SVG}text") if cls is None or e.get("class") == cls]


def test_svg_has_a_legend_layer_numbers_the_layer_0_mark_and_both_plans(tmp_path):
    svg = tmp_path / "ring.svg"
    r = run("--model", "llama-3.1-70b", "--cluster", CLUSTER, "--context", "32768", "--svg", str(svg))
    assert r.returncode == 0, r.stderr
    root = ET.parse(svg).getroot()
    headings = [e.text for e in _texts(root, "heading")]
    assert len(headings) == 2
    assert headings[0].startswith("GayShardingStrategy: ") and "ms per token" in headings[0]
    assert headings[1] == "exo default: no tokens (2-monad runs out of memory)"
    text = " ".join(e.text or "" for e in root.iter())
    assert "latency 2" not in text and "latency:" not in text
    legend = " ".join(e.text or "" for e in root.iter(f"{SVG}g") if e.get("class") == "legend" for e in e.iter())
    # every layer of this dense model streams mostly FFN bytes: no shading that would show nothing
    assert "none is shaded" in legend and "no two nodes alike" in legend
    for node in ("causality", "hatchery", "h100-box", "2-monad"):  # every node's color and budget bar
        assert node in legend
    assert len([e for e in root.iter(f"{SVG}rect") if e.get("class") == "budget"]) == 2 * 4
    # layer numbers: every 5th layer of 80 (at most 16 numbers), in each ring
    numbers = [int(e.text) for e in _texts(root, "layer-number")]
    assert numbers == list(range(0, 80, 5)) * 2
    # the layer-0 mark: a line at 12 o'clock of each ring (x constant, above the centre)
    marks = [e for e in root.iter(f"{SVG}line") if e.get("class") == "layer-0"]
    assert len(marks) == 2 and all(m.get("x1") == m.get("x2") for m in marks)
    # each node's label names its layers in both plans; the exo one flags the overflow
    labels = [e.text for e in _texts(root, "node-label")]
    assert any(lab.startswith("2-monad: 70-79, ") and lab.endswith("(OUT OF MEMORY)") for lab in labels)
    assert all(re.search(r", [\d.]+ ms, (MINUS|ERGODIC|PLUS)", lab) for lab in labels)


def _boxes(root):
    """Each node label's box as (x0, y0, x1, y1), its width estimated generously from its length."""
    out = []
    for e in _texts(root, "node-label"):
        size, x, y = float(e.get("font-size")), float(e.get("x")), float(e.get("y"))
        w = 0.62 * size * len(e.text)
        x0 = x - w if e.get("text-anchor") == "end" else x
        out.append((x0, y - size, x0 + w, y, e.text))
    return out


def test_labels_of_adjacent_one_layer_nodes_do_not_overlap():
    from exo_gay.strategies.svg import Band, plans_svg

    # eight one-layer nodes side by side, plus a big one: the crowded case
    bands = [Band(f"node-{i}", "PLUS", i, i + 1) for i in range(8)] + [Band("big-one", "MINUS", 8, 32)]
    root = ET.fromstring(plans_svg("t", [("ours: 1 ms per token", bands), ("theirs: 2 ms per token", bands[::-1])], 32))
    width = float(root.get("width"))
    boxes = _boxes(root)
    assert len(boxes) == 18
    for i, a in enumerate(boxes):
        assert 0 <= a[0] and a[2] <= width and a[1] >= 0, a
        for b in boxes[i + 1:]:
            apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            assert apart, (a, b)


def test_labels_from_the_cli_do_not_overlap(tmp_path):
    svg = tmp_path / "ring.svg"
    r = run("--model", "configs/models/llama-3.1-8b-instruct-4bit.json", "--cluster", CLUSTER, "--svg", str(svg),
            "--keep-all-nodes")
    assert r.returncode == 0, r.stderr
    root = ET.parse(svg).getroot()
    one_layer = [b for b in _boxes(root) if "-" not in b[4].split(": ")[1].split(",")[0]]
    assert len(one_layer) >= 2  # this plan gives single layers to several nodes
    boxes = _boxes(root)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


def test_text_fits_80_columns_and_explains_its_terms():
    r = run("--model", "llama-3.1-70b", "--cluster", CLUSTER, "--context", "32768")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, [line for line in lines if len(line) > 80]
    out = r.stdout
    # the declared speed beside the bucketed one: 300 floors to 1.05^116 = 287.1; the others from the table
    assert re.search(r"causality +Apple M3 Max +38\.7 +28\.99 +287 +cluster 300 ", out)
    assert re.search(r"h100-box +NVIDIA H100 .* 1925 +table 2000 +725\.4 +table 756", out)
    assert "exo default: no tokens (2-monad runs out of memory)" in out and "predicted no" not in out
    for term in ("GB/s, TFLOPS:", "used/budget GB:", "GB/tok:", "ms/tok:", "prefill ms:", "bound by:", "5%",
                 "MINUS attention + KV, ERGODIC norms + hops, PLUS FFN"):
        assert term in out


def test_text_table_and_throughput():
    r = run("--model", MODEL, "--cluster", CLUSTER, "--objective", "throughput")
    assert r.returncode == 0, r.stderr
    assert "GayShardingStrategy" in r.stdout and "exo default" in r.stdout and "slowest stage" in r.stdout


def _bad(tmp_path, *args):
    svg = tmp_path / "out.svg"
    r = run(*args, "--svg", str(svg))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not svg.exists()
    assert not list(tmp_path.glob(".tmp-*"))
    return r.stderr


def test_bad_input_one_line_exit_2_no_file(tmp_path):
    assert "no such file" in _bad(tmp_path, "--model", MODEL, "--cluster", str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert "malformed JSON" in _bad(tmp_path, "--model", MODEL, "--cluster", str(bad))
    assert "nothing is fetched" in _bad(tmp_path, "--model", "nobody/unknown-model", "--cluster", CLUSTER)
    empty = tmp_path / "empty.json"
    empty.write_text('{"peers": {}}')
    assert "peers" in _bad(tmp_path, "--model", MODEL, "--cluster", str(empty))
    assert "--context" in _bad(tmp_path, "--model", MODEL, "--cluster", CLUSTER, "--context", "-5")


def test_nothing_fits_names_the_shortfall(tmp_path):
    small = tmp_path / "small.json"
    small.write_text(json.dumps({"peers": {"a": {"address": "127.0.0.1", "port": 1, "device_capabilities": {
        "model": "m", "chip": "c", "memory": 16384, "flops": {"fp32": 0, "fp16": 0, "int8": 0}}}}}))
    err = _bad(tmp_path, "--model", MODEL, "--cluster", str(small))
    assert "short by" in err and "GB" in err


def test_keep_all_nodes_leaves_out_a_node_too_small_for_a_layer_as_the_plugin_does(tmp_path):
    # --keep-all-nodes gives every node a layer when that fits; a node that cannot hold one is
    # left out (what GayShardingStrategy(keep_all_nodes=True) does inside exo), not an error.
    def peer(port, mb):
        return {"address": "127.0.0.1", "port": port, "device_capabilities": {
            "model": "m", "chip": "c", "memory": mb, "flops": {"fp32": 0, "fp16": 10, "int8": 0}}}
    cluster = tmp_path / "cluster.json"
    cluster.write_text(json.dumps({"peers": {"big": peer(1, 131072), "tiny": peer(2, 256)}}))
    r = run("--model", MODEL, "--cluster", str(cluster), "--keep-all-nodes", "--json")
    assert r.returncode == 0, r.stderr
    layers = {row["node_id"]: row["layers"] for row in json.loads(r.stdout)["plan"]["nodes"]}
    assert layers["big"] == [0, 80] and layers["tiny"][0] == layers["tiny"][1]


def test_exo_card_id_previews_what_the_plugin_runs():
    """`partition --model <exo card id>` with no flags: the plugin's defaults, the plugin's plan."""
    from exo_gay.strategies.cards import card_table
    from exo_gay.strategies.gay_strategy import GayShardingStrategy

    r = run("--model", "llama-3.1-70b", "--cluster", CLUSTER, "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["cost_source"] == "card table (llama-3.1-70b -> mlx-community/Meta-Llama-3.1-70B-Instruct-4bit)"
    assert rep["objective"] == "latency" and rep["costs"]["total_weight_bytes"] == 39688355840
    assert rep["terms"] == {"MINUS": "attention + KV cache", "ERGODIC": "norms + hops", "PLUS": "FFN (+ head)"}
    preview = {row["node_id"]: row["layers"] for row in rep["plan"]["nodes"]}

    peers = json.loads((ROOT / CLUSTER).read_text())["peers"]
    s = GayShardingStrategy()  # what exo_plugin constructs by default
    s.observe_model("llama-3.1-70b", card_table()["llama-3.1-70b"].exo_layers)
    parts = s.partition(peers)
    ring_ids = [n.node_id for n in s.plan(peers)[0]]
    assert [list(seg) if seg[1] > seg[0] else [0, 0] for seg in s.last_plan.segments] == \
        [preview[i] if preview[i][1] > preview[i][0] else [0, 0] for i in ring_ids]
    used = [row["node_id"] for row in rep["plan"]["nodes"] if row["layers"][1] > row["layers"][0]]
    assert [p.node_id for p in parts] == used


def test_no_keep_all_nodes_lets_the_plan_leave_nodes_idle():
    r = run("--model", "llama-3.1-70b", "--cluster", CLUSTER, "--no-keep-all-nodes", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["plan"]["nodes"]
    assert any(row["layers"][0] == row["layers"][1] for row in rows)


def test_an_architecture_that_needs_missing_mlx_is_one_line_exit_2(tmp_path):
    """A config outside exo's families with mlx-lm unimportable: a clear line, no traceback."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['mlx'] = None; sys.modules['mlx_lm'] = None\n"
            "from exo_gay.cli import main\n"
            "sys.exit(main(['partition', '--model', sys.argv[1], '--cluster', sys.argv[2]]))\n")
    r = subprocess.run([sys.executable, "-c", code, str(ROOT / "configs" / "models" / "gemma-3-1b-it-4bit.json"),
                        str(ROOT / CLUSTER)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "needs mlx-lm" in r.stderr and "Traceback" not in r.stderr


def test_exo_default_that_drops_partitions_says_why_it_makes_no_tokens(tmp_path):
    # exo's memory-weighted split of {100000, 1, 1} MB rounds a small node's share to zero
    # layers (int(f * 32) of a 1e-5 share); exo drops that partition and its ring breaks
    def peer(port, mb):
        return {"address": "127.0.0.1", "port": port, "device_capabilities": {
            "model": "m", "chip": "c", "memory": mb, "flops": {"fp32": 0, "fp16": 10, "int8": 0}}}
    cluster = tmp_path / "cluster.json"
    cluster.write_text(json.dumps({"peers": {"big": peer(1, 100000), "s1": peer(2, 1), "s2": peer(3, 1)}}))
    r = run("--model", "llama-3.1-8b", "--cluster", str(cluster))
    assert r.returncode == 0, r.stderr
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    out = " ".join(r.stdout.split())  # the long lines fold
    # exo orders by memory, then id, descending: big, s2, s1; the last partition takes the rest
    assert "dropped by exo (a partition of zero layers): s2" in out
    assert "exo default: no tokens (exo's ring breaks: partitions of s2 round to zero layers" in out


# ---------------------------------------------------------------- issue 21's partition items, issue 25's preview

def test_a_near_miss_card_id_gets_did_you_mean(tmp_path):
    err = _bad(tmp_path, "--model", "llama-3.1-7b", "--cluster", CLUSTER)
    assert "did you mean " in err and "llama-3.1-8b" in err.split("did you mean")[1] and "--list-models" in err


def test_list_models_lists_every_card_id():
    from exo_gay.strategies.cards import card_table

    r = run("--list-models", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["card_id"] for row in rows] == sorted(card_table()) and len(rows) == len(card_table()) >= 70
    lite = next(row for row in rows if row["card_id"] == "deepseek-coder-v2-lite")
    assert lite["active_gb"] < lite["weights_gb"] / 4  # an MoE: a token reads a small share of the weights
    text = run("--list-models")
    assert text.returncode == 0 and "llama-3.1-70b" in text.stdout and "(MoE)" in text.stdout


def test_svg_says_wrote_file_and_a_folder_is_one_line(tmp_path):
    svg = tmp_path / "ring.svg"
    r = run("--model", "llama-3.2-1b", "--cluster", CLUSTER, "--svg", str(svg))
    assert r.returncode == 0 and r.stdout.rstrip().endswith(f"wrote {svg}") and svg.is_file()
    r = run("--model", "llama-3.2-1b", "--cluster", CLUSTER, "--svg", str(svg), "--json")
    assert json.loads(r.stdout) and r.stderr.strip() == f"wrote {svg}"  # stdout stays one JSON document
    folder = tmp_path / "out"
    folder.mkdir()
    r = run("--model", "llama-3.2-1b", "--cluster", CLUSTER, "--svg", str(folder))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "a folder, not a file" in r.stderr
    assert list(folder.iterdir()) == []


def _mixed_box(tmp_path):
    """Issue 25's box as legacy exo describes it: a 64 GB M2 Max, a 16 GB M2, an 8 GB RTX 3070."""
    def peer(port, chip, mb, tf):
        return {"address": "127.0.0.1", "port": port, "device_capabilities": {
            "model": "m", "chip": chip, "memory": mb, "flops": {"fp32": tf / 2, "fp16": tf, "int8": tf * 2}}}
    f = tmp_path / "mixed.json"
    f.write_text(json.dumps({"peers": {"max": peer(1, "Apple M2 Max", 65536, 26.98),
                                       "m2": peer(2, "Apple M2", 16384, 7.1),
                                       "rtx": peer(3, "NVIDIA GEFORCE RTX 3070", 8192, 40.6)}}))
    return str(f)


def test_mixed_box_speeds_come_from_the_chip_table_not_from_flops(tmp_path):
    rep = json.loads(run("--model", "qwen-2.5-7b", "--cluster", _mixed_box(tmp_path), "--json").stdout)
    nodes = {n["node_id"]: n for n in rep["nodes"]}
    # published bandwidths (nvidia.com: 448 GB/s; apple.com: 400, 100), not exo's fp16 TFLOPS x 14 (568 for the 3070)
    assert [nodes[k]["declared_gbps"] for k in ("rtx", "max", "m2")] == [448, 400, 100]
    assert all(nodes[k]["speed_source"] == "chip table" and "apple.com" in nodes[k]["reference"] for k in ("max", "m2"))
    assert nodes["rtx"]["compute_source"] == "exo flops" and nodes["rtx"]["declared_tflops"] == 40.6


def test_left_out_nodes_are_said_with_what_keeping_them_would_cost(tmp_path):
    cluster = _mixed_box(tmp_path)
    r = run("--model", "qwen-2.5-7b", "--cluster", cluster)
    out = " ".join(r.stdout.split())
    ours = json.loads(run("--model", "qwen-2.5-7b", "--cluster", cluster, "--json").stdout)
    keep = json.loads(run("--model", "qwen-2.5-7b", "--cluster", cluster, "--json", "--keep-all-nodes").stdout)
    assert ours["plan"]["left_out"] and not keep["plan"]["left_out"]
    assert keep["plan"]["latency_ms"] > ours["plan"]["latency_ms"]
    # the cost of keeping every node is printed, and it is what --keep-all-nodes plans
    assert ours["keep_all_nodes_plan"]["latency_ms"] == keep["plan"]["latency_ms"]
    assert f"would cost {keep['plan']['latency_ms']:.2f} ms per token" in out


def test_comparison_is_like_with_like(tmp_path):
    """Throughput mode: our slowest stage against exo's slowest stage, ms per token against ms per token."""
    rep = json.loads(run("--model", "qwen-2.5-7b", "--cluster", _mixed_box(tmp_path), "--objective", "throughput",
                         "--json").stdout)
    p, x = rep["plan"], rep["exo_default"]
    assert x["runs"]
    out = " ".join(run("--model", "qwen-2.5-7b", "--cluster", _mixed_box(tmp_path), "--objective",
                       "throughput").stdout.split())
    assert f"slowest stage: exo / ours = {x['bottleneck_ms'] / p['bottleneck_ms']:.2f}x" in out
    assert f"ms per token: exo / ours = {x['latency_ms'] / p['latency_ms']:.2f}x" in out
    assert p["bottleneck_ms"] <= x["bottleneck_ms"]  # the objective it optimised is never worse than exo's


def test_moe_streams_only_active_experts_but_holds_all(tmp_path):
    rep = json.loads(run("--model", "deepseek-coder-v2-lite", "--cluster", _mixed_box(tmp_path), "--json").stdout)
    used = [r for r in rep["plan"]["nodes"] if r["layers"][1] > r["layers"][0]]
    held = sum(r["gb"]["ffn"] for r in used)
    streamed = sum(r["gb"]["ffn_active"] for r in used)
    assert streamed < held / 5  # 6 of 64 routed experts + 2 shared: about 12% of the FFN bytes
    assert all(r["used_gb"] >= r["gb"]["ffn"] for r in used)  # memory counts every expert


def test_node_colors_are_distinct():
    from exo_gay.strategies.svg import node_colors

    for n in (4, 16, 34):
        ids = [f"host-{i}" for i in range(n)]
        colors = node_colors(ids)
        assert len(set(colors.values())) == n
        assert node_colors(list(reversed(ids))) == colors  # the same whatever the order given


def test_layer_shading_only_when_layers_differ():
    from exo_gay.strategies.svg import Band, plans_svg

    bands = [Band("a", "PLUS", 0, 4), Band("b", "MINUS", 4, 6)]
    mixed = ["PLUS", "MINUS", "PLUS", "PLUS", "MINUS", "PLUS"]
    root = ET.fromstring(plans_svg("t", [("ours: 1 ms", bands)], 6, ["a", "b"], mixed))
    slices = [e for e in root.iter(f"{SVG}path") if e.get("class") is None]
    fills = {e.get("fill") for e in slices[:4]}  # node a's four layers: two shades (PLUS lighter, MINUS darker)
    assert len(slices) == 6 and len(fills) == 2
    legend = " ".join(e.text or "" for e in root.iter(f"{SVG}text"))
    assert "MINUS, most bytes attention + KV cache (2 layers)" in legend
    root = ET.fromstring(plans_svg("t", [("ours: 1 ms", bands)], 6, ["a", "b"], ["PLUS"] * 6))
    slices = [e for e in root.iter(f"{SVG}path") if e.get("class") is None]
    assert len({e.get("fill") for e in slices[:4]}) == 1  # all alike: no shading that shows nothing
    assert "none is shaded" in " ".join(e.text or "" for e in root.iter(f"{SVG}text"))


def test_one_layer_node_band_stays_visible_among_many_layers():
    import math

    from exo_gay.strategies.svg import MIN_BAND, Band, plans_svg

    bands = [Band("big", "PLUS", 0, 125), Band("tiny", "PLUS", 125, 126)]
    root = ET.fromstring(plans_svg("t", [("ours: 1 ms", bands)], 126, ["big", "tiny"]))
    tiny = [e for e in root.iter(f"{SVG}path") if e.get("class") == "node-band"][1]
    # the band's arc endpoints (outer radius) lie at least MIN_BAND apart
    nums = [float(x) for x in re.findall(r"-?\d+\.\d+", tiny.get("d"))]
    (x0, y0), (x1, y1) = nums[0:2], nums[5:7]
    r = 152.0
    assert math.dist((x0, y0), (x1, y1)) >= 2 * r * math.sin(MIN_BAND / 2) * 0.99


def test_missing_model_or_cluster_is_one_line_exit_2():
    for args in (("--cluster", CLUSTER), ("--model", "llama-3.2-1b")):
        r = run(*args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--list-models" in r.stderr
