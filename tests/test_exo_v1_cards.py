"""exo v1's 123 model cards (read from the snapshot with tomllib) as the planner's costs."""

from __future__ import annotations

import sys

import pytest
from exo_v1_env import exo_v1_cards  # noqa: F401  (the session fixture)

from exo_gay.exov1.cards import V1Card, active_share, card_costs, kv_per_token, streamed_bytes
from exo_gay.exov1.plan import NodeInfo, PlacementError, check_split, ring_nodes
from exo_gay.strategies.planner import evaluate
from exo_gay.strategies.problem import make_problem

tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else None
if tomllib is None:
    pytest.skip("tomllib needs Python 3.11", allow_module_level=True)


def load(folder, name: str) -> V1Card:
    with open(folder / f"{name}.toml", "rb") as f:
        return V1Card.from_mapping(tomllib.load(f))


def test_every_card_costs_exactly_its_storage(exo_v1_cards):  # noqa: F811
    files = sorted(exo_v1_cards.glob("*.toml"))
    assert len(files) == 123
    moe = 0
    for f in files:
        with open(f, "rb") as fh:
            raw = tomllib.load(fh)
        c = V1Card.from_mapping(raw)
        costs = card_costs(c)
        assert costs.n_layers == raw["n_layers"]
        assert costs.total_weight_bytes() == raw["storage_size"]["in_bytes"]
        if costs.layers[0].ffn_active is not None:
            moe += 1
            assert all(0 < ly.ffn_active < ly.ffn for ly in costs.layers)
    # mixture-of-experts among exo v1's card files, counted by hand from the file names: DeepSeek V3.1/V3.2 4,
    # GLM (4.5 Air 2, 4.7 3, 4.7 Flash 4, 5 3, 5.1 3) 15, Kimi 6, MiniMax (M2.1 2, M2.5 3, M2.7 6) 11,
    # Nemotron-3 Nano 30B-A3B 7, Qwen3 (235B 2, 30B 2, Coder 480B 2, Coder Next 5, Next 80B 4) 15,
    # Qwen3.5/3.6 A-models (122B 4, 35B 2, 397B 3, 3.6 35B 4) 13, Step 3.5 Flash 3, Gemma 4 26B A4B 4,
    # gpt-oss 2. DeepSeek V4 has no published active share in our table: planned dense.
    assert moe == 4 + 15 + 6 + 11 + 7 + 15 + 13 + 3 + 4 + 2
    # the dense ones stay dense
    for name in ("mlx-community--Llama-3.3-70B-Instruct-4bit", "mlx-community--Qwen3.5-27B-4bit",
                 "mlx-community--gemma-4-31b-it-4bit"):
        assert card_costs(load(exo_v1_cards, name)).layers[0].ffn_active is None


def test_known_answers(exo_v1_cards):  # noqa: F811
    q = load(exo_v1_cards, "mlx-community--Qwen3-30B-A3B-4bit")  # "30B-A3B": a token reads 3/30
    assert active_share(q)[0] == pytest.approx(0.1)
    costs = card_costs(q)
    per = 17612931072 // 48  # the card's storage_size over its 48 layers
    assert costs.layers[-1].ffn == per and costs.layers[-1].ffn_active == -(-per // 10)
    assert kv_per_token(q)[0] == 2 * 4 * 128 * 2  # 4 kv heads x head_dim 128 x (K, V) x fp16
    ds = load(exo_v1_cards, "mlx-community--DeepSeek-V3.1-4bit")  # 37B of 671B (DeepSeek's card)
    assert active_share(ds)[0] == pytest.approx(37 / 671)
    assert kv_per_token(ds)[0] == (512 + 64) * 2
    oss = load(exo_v1_cards, "mlx-community--gpt-oss-120b-MXFP4-Q8")
    assert active_share(oss)[0] == pytest.approx(5.1 / 117)
    llama = load(exo_v1_cards, "mlx-community--Llama-3.3-70B-Instruct-4bit")
    ly = card_costs(llama).layers[0]
    assert streamed_bytes(ly) == ly.weights == 40652242944 // 80 + 1  # remainder 64: first layers take a byte


def infos(*gb):
    return [NodeInfo(f"n{i}", int(g * 1e9), int(g * 1e9), chip, "") for i, (g, chip) in enumerate(gb)]


def test_moe_time_reads_only_active_experts(exo_v1_cards):  # noqa: F811
    q = card_costs(load(exo_v1_cards, "mlx-community--Qwen3-30B-A3B-4bit"))
    ring = ring_nodes(infos((40, "Apple M4 Pro"), (40, "Apple M4")))
    p = make_problem(q, ring, context=0, hop_ms=0)
    assert p.mem_bytes[0] == q.layers[0].weights
    assert p.time_bytes[0] == pytest.approx(q.layers[0].ffn_active, rel=1e-9)
    # a token on one M4 Pro (273 GB/s, Apple's figure, bucketed by 5%) reads ~1/10 of the 17.6 GB
    plan = evaluate(p, [(0, 48), (48, 48)], "latency")
    assert plan.latency_ms == pytest.approx(17612931072 * 0.1 / (ring[0].gbps * 1e6), rel=1e-3)


def test_check_split_rejects_gaps_overlaps_and_overfull_nodes():
    ni = infos((10, ""), (10, ""))
    check_split([(0, 3), (3, 8)], 8, [5e9, 5e9], ni)
    for segs, held in (([(0, 3), (4, 8)], [1, 1]), ([(0, 3), (2, 8)], [1, 1]), ([(0, 8), (8, 8)], [1, 0]),
                       ([(0, 3), (3, 7)], [1, 1]), ([(0, 3), (3, 8)], [5e9, 11e9])):
        with pytest.raises(PlacementError):
            check_split(segs, 8, held, ni)


def test_place_stays_in_the_core_install():
    """`exo-gay place` and the adapter import no numba, grpc, zenoh, nacl (nor exo) on their way."""
    import subprocess

    code = ("import sys\nfrom exo_gay.cli import main\n"
            "main(['place', '--api', 'http://127.0.0.1:9', '--model', 'x', '--dry-run'])\n"
            "import exo_gay.exov1.adapter\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numba', 'grpc', 'zenoh', 'nacl', 'exo')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr
    assert "unreachable" in r.stderr
