"""exo's recorded model cards (exo_gay/strategies/data/exo_cards.json) against an independent count.

Every LLM card of legacy exo's exo/models.py has its architecture facts recorded; the byte
count computed from those facts by tests/cards_reference.py (plain arithmetic, no mlx) must
land within 2% of each published checkpoint size, and within 10% of the parameter count a
card's name states when no size was published.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from exo_gay import jsonfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cards_reference as ref  # noqa: E402
import exo_legacy_env  # noqa: E402

legacy_exo = exo_legacy_env.legacy_exo  # the session fixture: exo's venv

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    "exo_gay", "strategies", "data", "exo_cards.json")
TABLE = jsonfile.read(DATA, "exo card table")
CARDS = TABLE["cards"]
PUBLISHED = sorted(c for c, e in CARDS.items() if e["published_bytes"])
UNPUBLISHED = sorted(c for c, e in CARDS.items() if not e["published_bytes"])
USED_STORAGE = sorted((c, i) for c, e in CARDS.items() for i, o in enumerate(e["other_published"])
                      if o["kind"] == "hf_used_storage")

# The parameter count each name states, for cards whose name has one ("-70b", "-1.5b", "phi-4" is 14B);
# Llama 3.2's "1B" and "3B" are stated precisely in Meta's Llama 3.2 model card table (1.23B, 3.21B).
NAMED_PARAMS = {"llama-3.2-1b-8bit": 1.23e9, "llama-3.2-3b-8bit": 3.21e9, "llama-3.2-3b-bf16": 3.21e9,
                "phi-3.5-mini": 3.8e9, "phi-4": 14e9, "mistral-nemo": 12e9, "mistral-large": 123e9,
                "deepseek-coder-v2-lite": 16e9, "deepseek-coder-v2.5": 236e9, "deepseek-v3": 671e9,
                "deepseek-v3-3bit": 671e9, "deepseek-r1": 671e9, "deepseek-r1-3bit": 671e9}


# R1-Distill-Qwen-1.5B keeps the "1.5B" of its Qwen2.5 base, whose head is tied; the distill's
# config unties lm_head (tie_word_embeddings false), adding vocab * hidden = 0.23B parameters the
# name does not count. For these cards the name is checked against the parameters without the head.
NAME_WITHOUT_HEAD = re.compile(r"^deepseek-r1-distill-qwen-1\.5b")


def named_params(card: str) -> float | None:
    if card in NAMED_PARAMS:
        return NAMED_PARAMS[card]
    m = re.search(r"-(\d+(?:\.\d+)?)b(?:-|$)", card)
    return float(m.group(1)) * 1e9 if m else None


def test_every_exo_card_is_recorded_or_skipped_with_a_reason():
    ids = TABLE["exo_card_ids"]
    assert len(ids) == len(set(ids)) == 73
    assert set(CARDS) | set(TABLE["skipped"]) == set(ids)
    assert not set(CARDS) & set(TABLE["skipped"])
    assert all(s["reason"] for s in TABLE["skipped"].values())
    assert set(TABLE["skipped"]) == {"stable-diffusion-2-1-base", "dummy"}


@pytest.mark.exo
def test_recorded_ids_are_exos_own(legacy_exo, tmp_path):
    # exo's own model_cards, read in exo's venv (tests/exo_legacy_env.py)
    code = "import json; from exo.models import model_cards; print(json.dumps(model_cards))"
    r = subprocess.run([str(legacy_exo.python), "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env=legacy_exo.env(), timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    model_cards = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(TABLE["exo_card_ids"]) == set(model_cards)
    for card, entry in CARDS.items():
        assert model_cards[card]["repo"]["MLXDynamicShardInferenceEngine"] == entry["repo"]
        assert model_cards[card]["layers"] == entry["exo_layers"]


@pytest.mark.parametrize("card", sorted(CARDS))
def test_every_card_has_sources_and_the_facts_a_cost_needs(card):
    entry = CARDS[card]
    cfg = entry["config"]
    assert entry["sources"]["config"].startswith("https://huggingface.co/")
    assert entry["sources"]["quantization"]
    facts = cfg["text_config"] if cfg["model_type"] == "llava" else cfg
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size"):
        assert isinstance(facts[key], int) and facts[key] > 0, key
    assert "tie_word_embeddings" in facts
    q = cfg["quantization"]
    assert q is None or (q["bits"] in (3, 4, 6, 8) and q["group_size"] == 64)
    if entry["estimate"]:
        assert entry["estimate_reason"]
    if facts["num_hidden_layers"] != entry["exo_layers"]:
        assert "exo's card declares" in entry["notes"]


@pytest.mark.parametrize("card", PUBLISHED)
def test_count_is_within_2_percent_of_the_published_size(card):
    entry = CARDS[card]
    counted = ref.count(entry["config"]).bytes
    assert entry["sources"]["size"]
    published = entry["published_bytes"]
    assert abs(counted - published) <= 0.02 * published, (counted, published)


@pytest.mark.parametrize("card,index", USED_STORAGE)
def test_count_never_exceeds_what_the_repository_stores(card, index):
    # usedStorage counts every file of every revision, printed to 0.01 GB: an upper bound.
    used = CARDS[card]["other_published"][index]["bytes"]
    assert ref.count(CARDS[card]["config"]).bytes <= used + 5e6


@pytest.mark.parametrize("card", UNPUBLISHED)
def test_unpublished_cards_match_the_parameter_count_in_their_name(card):
    stated = named_params(card)
    assert stated is not None, f"{card}: no published size and no size in the name"
    cfg = CARDS[card]["config"]
    params = ref.count(cfg).params
    if NAME_WITHOUT_HEAD.match(card):
        assert not cfg["tie_word_embeddings"]
        params -= cfg["vocab_size"] * cfg["hidden_size"]
    assert abs(params - stated) <= 0.10 * stated, (params, stated)


def test_reference_quantized_storage_by_hand():
    # (out, in) = (128, 256) at 4 bits, group 64: 128*256/2 packed bytes + 2 * 128*4 fp16 scales/biases.
    assert ref.tensor_bytes(128, 256, {"bits": 4, "group_size": 64}) == 16384 + 2048
    assert ref.tensor_bytes(128, 256, None) == 128 * 256 * 2
    with pytest.raises(ValueError):
        ref.tensor_bytes(8, 100, {"bits": 4, "group_size": 64})


def test_reference_counts_known_totals():
    # Llama-3.2-1B: 1,235,814,400 parameters (meta-llama's model card says 1.23B); tied embedding.
    assert ref.count(CARDS["llama-3.2-1b-8bit"]["config"]).params == 1_235_814_400
    # A tied model has no lm_head; untying it adds exactly vocab * hidden parameters.
    cfg = dict(CARDS["qwen-2.5-0.5b"]["config"])
    tied = ref.count(cfg).params
    assert ref.count(dict(cfg, tie_word_embeddings=False)).params - tied == 151936 * 896
    # DeepSeek routers stay unquantized: 58 MoE layers x 256 experts x 7168 at 2 bytes (+ the bias).
    parts = ref.count(CARDS["deepseek-v3"]["config"]).parts
    assert parts["router"] == 58 * (256 * 7168 + 256) * 2
