"""Costs from mlx-lm's model classes, checked against published checkpoint sizes."""

from __future__ import annotations

import json

import pytest

from exo_gay.strategies.model_costs import ModelNotFound, costs_from_config, load_costs

M = "configs/models/"


def _bf16(name):
    cfg = json.load(open(M + name))
    cfg.pop("quantization")
    return costs_from_config(cfg, name)


def test_llama_31_bf16_totals_match_published_index_sizes():
    # model.safetensors.index.json "total_size" of meta-llama/Llama-3.1-8B(-Instruct) and -70B
    assert _bf16("llama-3.1-8b-instruct-4bit.json").total_weight_bytes() == 16060522496
    assert _bf16("llama-3.1-70b-instruct-4bit.json").total_weight_bytes() == 141107412992


def test_llama_4bit_totals_match_mlx_community_checkpoints():
    # published sizes of mlx-community/Llama-3.1-8B-Instruct-4bit and
    # mlx-community/Llama-3.3-70B-Instruct-4bit (same architecture as 3.1 70B)
    assert load_costs(M + "llama-3.1-8b-instruct-4bit.json").total_weight_bytes() == pytest.approx(4517404672, rel=0.01)
    assert load_costs(M + "llama-3.1-70b-instruct-4bit.json").total_weight_bytes() == pytest.approx(39688355840, rel=0.01)


def test_gemma3_1b_totals_match_mlx_community_file_sizes():
    # The Hub lists model.safetensors of mlx-community/gemma-3-1b-it-4bit at 733 MB and of
    # -bf16 at 2.6 GB (rounded). Those checkpoints carry lm_head.weight, so mlx-lm keeps a
    # separate head (it ties only when the checkpoint has none): counted here, the totals fit.
    assert load_costs(M + "gemma-3-1b-it-4bit.json").total_weight_bytes() == pytest.approx(733e6, rel=0.001)
    assert _bf16("gemma-3-1b-it-4bit.json").total_weight_bytes() == pytest.approx(2.6e9, rel=0.02)


def test_triad_split_of_a_llama_layer_from_shapes():
    c = _bf16("llama-3.1-8b-instruct-4bit.json")
    hidden, inter, kv_dim = 4096, 14336, 8 * 128
    l0 = c.layers[0]
    assert l0.minus == 2 * (hidden * hidden * 2 + hidden * kv_dim * 2)  # q, o + k, v
    assert l0.ergodic == 2 * 2 * hidden  # two RMSNorms
    assert l0.plus == 2 * 3 * hidden * inter  # gate, up, down
    assert l0.kv_per_token == 2 * 2 * kv_dim  # keys + values at 2 bytes
    assert l0.kv_window is None
    assert c.embedding == c.head == 2 * 128256 * hidden and not c.tied


def test_moe_with_dense_first_layer():
    c = load_costs(M + "glm-4.5-air-4bit.json")
    assert c.n_layers == 46
    assert c.layers[0].plus * 10 < c.layers[1].plus  # dense FFN vs 128 experts
    assert c.layers[1] == c.layers[45]


def test_sliding_window_layers():
    c = load_costs(M + "gemma-3-1b-it-4bit.json")
    windows = [l.kv_window for l in c.layers]
    # gemma 3: every 6th layer global, the others a 512-token window
    assert windows == [None if (i + 1) % 6 == 0 else 512 for i in range(26)]
    assert c.layers[0].kv_bytes(100_000) == c.layers[0].kv_per_token * 512
    assert c.layers[5].kv_bytes(100_000) == c.layers[5].kv_per_token * 100_000


def test_building_a_405b_sized_model_allocates_nothing():
    import mlx.core as mx

    cfg = json.load(open(M + "llama-3.1-70b-instruct-4bit.json"))
    cfg.update(hidden_size=16384, intermediate_size=53248, num_attention_heads=128, num_hidden_layers=126)
    before = mx.get_active_memory()
    c = costs_from_config(cfg, "405b-shaped")
    assert c.n_layers == 126 and c.total_weight_bytes() > 200e9
    assert mx.get_active_memory() - before < 64 * 2**20


def test_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFound, match="nothing is fetched"):
        load_costs("nobody/no-such-model-here")
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"model_type": "no_such_arch_xyz"}))
    with pytest.raises(ModelNotFound, match="not supported"):
        load_costs(str(p))
