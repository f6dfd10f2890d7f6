"""The cost model: analytic bytes checked against published sizes, shapes, and MLX's own arrays."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from exo_gay.strategies.cards import costs_of_config
from exo_gay.strategies.checkpoint import ModelNotFound, costs_from_config, quantized_bytes

M = Path(__file__).resolve().parent.parent / "configs" / "models"
ROOT = M.parent.parent


def cfg(name: str, **change) -> dict:
    c = json.loads((M / name).read_text())
    c.update(change)
    return {k: v for k, v in c.items() if not (k in change and v is None)}  # change=None drops a key


def test_llama_31_bf16_totals_match_published_index_sizes():
    # model.safetensors.index.json "total_size" of meta-llama/Llama-3.1-8B(-Instruct) and -70B
    def bf16(name):
        return costs_from_config(cfg(name, quantization=None)).total_weight_bytes()

    assert bf16("llama-3.1-8b-instruct-4bit.json") == 16060522496
    assert bf16("llama-3.1-70b-instruct-4bit.json") == 141107412992


def test_llama_4bit_totals_match_mlx_community_checkpoints():
    # total_size of mlx-community/Llama-3.1-8B-Instruct-4bit and -3.3-70B-Instruct-4bit (same shapes as 3.1 70B)
    assert costs_from_config(cfg("llama-3.1-8b-instruct-4bit.json")).total_weight_bytes() == 4517404672
    assert costs_from_config(cfg("llama-3.1-70b-instruct-4bit.json")).total_weight_bytes() == 39688355840


def test_triad_split_of_a_llama_layer_from_shapes():
    c = costs_from_config(cfg("llama-3.1-8b-instruct-4bit.json", quantization=None))
    hidden, inter, kv_dim = 4096, 14336, 8 * 128
    l0 = c.layers[0]
    assert l0.attention == 2 * (hidden * hidden * 2 + hidden * kv_dim * 2)  # q, o + k, v
    assert l0.norm == 2 * 2 * hidden  # two RMSNorms
    assert l0.ffn == 2 * 3 * hidden * inter  # gate, up, down
    assert l0.kv_per_token == 2 * 2 * kv_dim  # keys + values at 2 bytes
    assert l0.kv_window is None
    assert c.embedding == c.head == 2 * 128256 * hidden and not c.tied


def test_quantized_bytes_by_hand():
    # 64 x 128 at 4 bits, groups of 64: 64*128/2 packed bytes + 64 rows x 2 groups x (scale + bias) x 2 bytes
    assert quantized_bytes(64, 128, 4, 64) == 4096 + 512
    assert quantized_bytes(64, 128, 8, 64) == 8192 + 512
    assert quantized_bytes(64, 128, 3, 64) == 3072 + 512
    assert quantized_bytes(64, 128, 4, 32, mode="mxfp4") == 4096 + 64 * 4
    with pytest.raises(ModelNotFound):
        quantized_bytes(64, 100, 4, 64)


def _mlx_nbytes_of_quantized_linear(rows, cols, bits, group_size):
    mx = pytest.importorskip("mlx.core")
    nn = pytest.importorskip("mlx.nn")
    from mlx.utils import tree_flatten

    holder = nn.Module()  # nn.quantize swaps children, so the Linear sits inside a module
    holder.lin = nn.Linear(cols, rows, bias=False)
    holder.set_dtype(mx.bfloat16)
    nn.quantize(holder, group_size, bits)  # positional: the signature of mlx 0.22 and of today's mlx
    assert type(holder.lin).__name__ == "QuantizedLinear"
    return sum(int(a.nbytes) for _, a in tree_flatten(holder.parameters()))


@pytest.mark.parametrize("bits", [3, 4, 6, 8])
def test_quantized_bytes_equal_mlx_arrays(bits):
    """The analytic formula against the arrays this machine's mlx really allocates."""
    assert quantized_bytes(192, 256, bits, 64) == _mlx_nbytes_of_quantized_linear(192, 256, bits, 64)


FAMILY_CONFIGS = {
    "llama": cfg("llama-3.1-8b-instruct-4bit.json", num_hidden_layers=2, vocab_size=1024),
    "qwen2": {"model_type": "qwen2", "hidden_size": 896, "num_hidden_layers": 2, "num_attention_heads": 14,
              "num_key_value_heads": 2, "intermediate_size": 4864, "vocab_size": 1024, "rms_norm_eps": 1e-6,
              "tie_word_embeddings": True, "quantization": {"bits": 4, "group_size": 64}},
    "phi3": {"model_type": "phi3", "hidden_size": 512, "num_hidden_layers": 2, "num_attention_heads": 8,
             "num_key_value_heads": 2, "intermediate_size": 1024, "vocab_size": 1024, "rms_norm_eps": 1e-5,
             "tie_word_embeddings": False, "quantization": {"bits": 4, "group_size": 64}},
    "gemma2": {"model_type": "gemma2", "hidden_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4,
               "num_key_value_heads": 2, "head_dim": 256, "intermediate_size": 1024, "vocab_size": 1024,
               "rms_norm_eps": 1e-6, "query_pre_attn_scalar": 256, "quantization": {"bits": 8, "group_size": 64}},
    "deepseek_v3": {"model_type": "deepseek_v3", "hidden_size": 512, "num_hidden_layers": 3, "num_attention_heads": 4,
                    "num_key_value_heads": 4, "q_lora_rank": 128, "kv_lora_rank": 64, "qk_nope_head_dim": 64,
                    "qk_rope_head_dim": 64, "v_head_dim": 64, "intermediate_size": 1024, "moe_intermediate_size": 128,
                    "n_routed_experts": 8, "n_shared_experts": 1, "num_experts_per_tok": 2, "first_k_dense_replace": 1,
                    "moe_layer_freq": 1, "n_group": 2, "topk_group": 1, "routed_scaling_factor": 2.5,
                    "topk_method": "noaux_tc", "scoring_func": "sigmoid", "norm_topk_prob": True, "vocab_size": 1024,
                    "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": False,
                    "max_position_embeddings": 4096,
                    "rope_scaling": {"type": "yarn", "factor": 1.0, "original_max_position_embeddings": 4096,
                                     "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
                    "quantization": {"bits": 4, "group_size": 64}},
}


@pytest.mark.parametrize("family", sorted(FAMILY_CONFIGS))
def test_analytic_count_equals_mlx_lm_model_class(family):
    """Two independent counts of the same model: the arithmetic, and mlx-lm's lazily built class."""
    pytest.importorskip("mlx_lm")
    from exo_gay.strategies.mlx_costs import costs_with_mlx

    c = FAMILY_CONFIGS[family]
    try:
        theirs = costs_with_mlx(c, family)
    except ModelNotFound as e:
        pytest.skip(str(e))
    ours = costs_from_config(c, family)
    assert [ly.weights for ly in ours.layers] == [ly.weights for ly in theirs.layers]
    def parts(costs):
        return [(ly.attention, ly.norm, ly.ffn) for ly in costs.layers]

    assert parts(ours) == parts(theirs)
    assert (ours.embedding, ours.head, ours.final_norm, ours.tied) == (theirs.embedding, theirs.head,
                                                                     theirs.final_norm, theirs.tied)


def test_mlx_path_under_the_mlx_022_signature(monkeypatch):
    """nn.quantize as mlx 0.22-0.28 define it (no `mode`): the mlx path still counts a quantized config."""
    pytest.importorskip("mlx_lm")
    import mlx.nn as nn

    from exo_gay.strategies import mlx_costs

    real = nn.quantize
    seen = []

    def quantize_022(model, group_size=64, bits=4, class_predicate=None):
        seen.append((group_size, bits))
        return real(model, group_size, bits, class_predicate=class_predicate)

    monkeypatch.setattr(nn, "quantize", quantize_022)
    assert "mode" not in inspect.signature(nn.quantize).parameters
    c = mlx_costs.costs_with_mlx(FAMILY_CONFIGS["llama"], "llama")
    assert seen == [(64, 4)]
    assert c.total_weight_bytes() == costs_from_config(FAMILY_CONFIGS["llama"]).total_weight_bytes()
    with pytest.raises(ModelNotFound, match="newer mlx"):
        mlx_costs.costs_with_mlx(dict(FAMILY_CONFIGS["llama"], quantization={"bits": 4, "group_size": 32,
                                                                             "mode": "mxfp4"}), "llama")


def test_deepseek_layers_dense_then_experts_and_mla_kv():
    c = costs_from_config(FAMILY_CONFIGS["deepseek_v3"])
    # a quantized 128x512 or 512x128 matrix: 32768 packed bytes + 4096 of scales and biases
    q = 128 * 512 // 2 + 2 * 128 * (512 // 64) * 2
    experts_and_shared = (8 + 1) * 3 * q
    router = 8 * 512 * 2 + 8 * 2  # gate weight and e_score_correction_bias, unquantized
    assert c.layers[1].ffn == experts_and_shared + router and c.layers[1] == c.layers[2]
    assert c.layers[0].ffn == 3 * (1024 * 512 // 2 + 2 * 1024 * 8 * 2)  # the dense first layer
    # mlx-lm 0.21 (exo's pin) caches decompressed keys (nope + rope) and values of every head
    assert c.layers[0].kv_per_token == 4 * (64 + 64 + 64) * 2


def test_other_architectures_through_mlx_lm_when_it_has_them():
    pytest.importorskip("mlx_lm")
    try:
        g = costs_of_config(cfg("gemma-3-1b-it-4bit.json"), "gemma3", "gemma-3-1b-it-4bit.json")
    except ModelNotFound as e:
        pytest.skip(f"this mlx-lm: {e}")
    # the Hub lists model.safetensors of mlx-community/gemma-3-1b-it-4bit at 733 MB (rounded)
    assert g.total_weight_bytes() == pytest.approx(733e6, rel=0.001)
    assert [ly.kv_window for ly in g.layers] == [None if (i + 1) % 6 == 0 else 512 for i in range(26)]
    glm = costs_of_config(cfg("glm-4.5-air-4bit.json"), "glm", "glm-4.5-air-4bit.json")
    assert glm.n_layers == 46 and glm.layers[0].ffn * 10 < glm.layers[1].ffn and glm.layers[1] == glm.layers[45]


def test_cards_and_partition_need_no_mlx(tmp_path):
    """With mlx and mlx_lm unimportable, every card is costed and partition plans one."""
    code = ("import sys; sys.modules['mlx'] = None; sys.modules['mlx_lm'] = None\n"
            "from exo_gay.strategies.cards import card_table, card_costs\n"
            "print(sum(card_costs(c).total_weight_bytes() > 0 for c in card_table().values()))\n"
            "from exo_gay.cli import main\n"
            "sys.exit(main(['partition', '--model', 'llama-3.2-1b', '--cluster', sys.argv[1], '--json']))\n")
    r = subprocess.run([sys.executable, "-c", code, str(ROOT / "configs" / "cluster.example.json")],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr[-2000:]
    first, rest = r.stdout.split("\n", 1)
    from exo_gay.strategies.cards import card_table

    assert int(first) == len(card_table())
    assert json.loads(rest)["cost_source"].startswith("card table (llama-3.2-1b")


def test_unknown_model_is_a_clear_error(tmp_path):
    from exo_gay.strategies.cards import resolve

    with pytest.raises(ModelNotFound, match="nothing is fetched"):
        resolve("nobody/no-such-model-here")
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"model_type": "no_such_arch_xyz"}))
    with pytest.raises(ModelNotFound, match="not supported|not importable"):
        resolve(str(p))


def _cards():
    from exo_gay.strategies.cards import card_table

    return sorted(card_table().values(), key=lambda c: c.card_id)


@pytest.mark.parametrize("card", _cards(), ids=lambda c: c.card_id)
def test_every_exo_card_is_costed_by_polarity_and_agrees_with_the_independent_count(card):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import cards_reference  # the research count: plain arithmetic written apart from exo_gay

    from exo_gay.strategies.model_costs import load_costs

    c = load_costs(card.card_id)
    assert c.n_layers == card.exo_layers and c.source.startswith(f"card table ({card.card_id} -> {card.repo}")
    real = [ly for ly in c.layers if ly.weights]  # exo's extra empty layer slots (qwen-2.5-0.5b) hold nothing
    assert real and all(ly.attention > 0 and ly.norm > 0 and ly.ffn > 0 and ly.kv_per_token > 0 for ly in real)
    assert c.embedding > 0 and c.head > 0 and c.final_norm > 0
    assert c.total_weight_bytes() == cards_reference.count(card.config).bytes
    if card.published_bytes:
        assert c.total_weight_bytes() == pytest.approx(card.published_bytes, rel=0.02)


@pytest.mark.parametrize("card, total_b, active_b", [
    # DeepSeek-Coder-V2-Lite: 16B parameters, 2.4B active (its model card, huggingface.co/deepseek-ai)
    ("deepseek-coder-v2-lite", 16e9, 2.4e9),
    # DeepSeek-V3: 671B parameters, 37B activated per token (DeepSeek-V3 technical report, arXiv 2412.19437)
    ("deepseek-v3", 671e9, 37e9),
])
def test_moe_active_parameters_agree_with_the_published_figures(card, total_b, active_b):
    from exo_gay.strategies.model_costs import load_costs

    c = load_costs(card)
    per_param = c.bits_per_weight / 8  # bytes a stored parameter takes (4-bit + a scale and bias per 64)
    total = (c.total_weight_bytes() - c.embedding) / per_param
    active = (c.active_weight_bytes() - c.embedding) / per_param
    assert total == pytest.approx(total_b, rel=0.05)
    assert active == pytest.approx(active_b, rel=0.05)
    moe = [ly for ly in c.layers if ly.ffn_active is not None]
    assert moe and all(ly.ffn_active < ly.ffn for ly in moe)  # memory holds every expert, a token reads few


def test_dense_layers_read_all_of_their_ffn():
    from exo_gay.strategies.model_costs import load_costs

    c = load_costs("llama-3.1-8b")
    assert all(ly.ffn_active is None and ly.ffn_read == ly.ffn for ly in c.layers)
    assert c.active_weight_bytes() == c.total_weight_bytes()
