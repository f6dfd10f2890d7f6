"""exo v1's model cards as the planner's costs.

An exo v1 card (a TOML file in exo's resources/inference_model_cards, or the `modelCard` exo's
API puts in every shard of a placement) says n_layers, hidden_size, num_key_value_heads,
storage_size, quantization, family and base_model: no vocabulary, no head size, no experts.
From those, as exo's own memory check does (storage_size x layers / n_layers), the weights
are spread evenly over the layers. What we add:

- KV cache: 2 (keys, values) x num_key_value_heads x head_dim x 2 bytes (fp16) per token and
  layer, head_dim 128 unless our table says otherwise (DeepSeek-style latent attention caches
  a compressed latent instead). An estimate: hybrid linear-attention models (Qwen3-Next,
  Qwen3.5, Nemotron-H) cache less.
- Mixture-of-experts: memory holds every expert, a token streams only the active ones. The
  share of a layer's bytes a token reads is active / total parameters: from the base model's
  name when it says it ("Qwen3.5 122B A10B"), else from ACTIVE_PARAMS below (the publishers'
  model cards). A model in neither streams every byte (dense).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import InputError
from ..strategies.checkpoint import LayerCost, ModelCosts

KV_BYTES = 2  # the KV cache holds fp16/bf16 activations
DEFAULT_HEAD_DIM = 128
DEFAULT_KV_HEADS = 8  # a card without num_key_value_heads (the Llama-3.1 Nemotrons: 8 in their configs)

# (total, active) parameters in billions, by exo v1's base_model, from each publisher's model card
# on huggingface.co (the "total / activated parameters" line). Names that carry "<N>B A<M>B"
# are read from the name instead (MOE_NAME_RE).
ACTIVE_PARAMS: dict[str, tuple[float, float, str]] = {
    "DeepSeek V3.1": (671, 37, "deepseek-ai/DeepSeek-V3.1"),
    "DeepSeek V3.2": (671, 37, "deepseek-ai/DeepSeek-V3.2-Exp"),
    "Kimi K2": (1000, 32, "moonshotai/Kimi-K2-Instruct"),
    "Kimi K2.5": (1000, 32, "moonshotai/Kimi-K2.5"),
    "Kimi K2.6": (1000, 32, "moonshotai/Kimi-K2.6 (K2 architecture)"),
    "Kimi K2.7 Code": (1000, 32, "moonshotai/Kimi-K2.7-Code (K2 architecture)"),
    "GLM 4.5 Air": (106, 12, "zai-org/GLM-4.5-Air"),
    "GLM 4.7": (355, 32, "zai-org/GLM-4.7 (GLM-4.5 architecture)"),
    "GLM 4.7 Flash": (30, 3, "zai-org/GLM-4.7-Flash (30B-A3B)"),
    "GLM-5": (744, 40, "zai-org/GLM-5"),
    "GLM-5.1": (744, 40, "zai-org/GLM-5.1 (GLM-5 architecture)"),
    "MiniMax M2.1": (230, 10, "MiniMaxAI/MiniMax-M2.1"),
    "MiniMax M2.5": (230, 10, "MiniMaxAI/MiniMax-M2.5"),
    "MiniMax M2.7": (230, 10, "MiniMaxAI/MiniMax-M2.7"),
    "Qwen3 235B": (235, 22, "Qwen/Qwen3-235B-A22B-Instruct-2507"),
    "Qwen3 30B": (30.5, 3.3, "Qwen/Qwen3-30B-A3B"),
    "Qwen3 Coder 480B": (480, 35, "Qwen/Qwen3-Coder-480B-A35B-Instruct"),
    "Qwen3 Coder Next": (80, 3, "Qwen/Qwen3-Coder-Next (Qwen3-Next-80B-A3B architecture)"),
    "Qwen3 Next 80B": (80, 3, "Qwen/Qwen3-Next-80B-A3B-Instruct"),
    "Step 3.5 Flash": (196, 11, "stepfun-ai/Step-3.5-Flash"),
    "GPT-OSS 120B": (117, 5.1, "openai/gpt-oss-120b"),
    "GPT-OSS 20B": (21, 3.6, "openai/gpt-oss-20b"),
}
MOE_NAME_RE = re.compile(r"(\d+(?:\.\d+)?)B[\s-]+A(\d+(?:\.\d+)?)B", re.IGNORECASE)

# KV bytes per token and layer where the card's kv heads x 128 is wrong: latent attention
# (DeepSeek V3 / Kimi K2 / GLM-5: mlx-lm caches kv_lora_rank 512 + rope 64 per token).
KV_PER_TOKEN: dict[str, tuple[int, str]] = {
    "deepseek": ((512 + 64) * KV_BYTES, "MLA latent cache (kv_lora_rank 512 + qk_rope 64)"),
    "kimi": ((512 + 64) * KV_BYTES, "MLA latent cache (kv_lora_rank 512 + qk_rope 64)"),
}


@dataclass(frozen=True)
class V1Card:
    """The facts of an exo v1 card that costs need (from a TOML dict or exo's JSON, snake or camel case)."""

    model_id: str
    n_layers: int
    hidden_size: int
    num_key_value_heads: int | None
    storage_bytes: int
    quantization: str = ""
    family: str = ""
    base_model: str = ""
    supports_tensor: bool = False

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any]) -> "V1Card":
        def get(snake: str) -> Any:
            camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), snake)
            return d.get(snake, d.get(camel))

        def whole(name: str, v: Any, optional: bool = False) -> int | None:
            if v is None and optional:
                return None
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 or v != int(v):
                raise InputError(f"exo model card {get('model_id')!r}: {name} is missing or not a positive "
                                 f"integer ({v!r})")
            return int(v)

        if not isinstance(d, Mapping) or not isinstance(get("model_id"), str):
            raise InputError("exo model card: not a card (no model_id)")
        size = get("storage_size")
        size = size.get("in_bytes", size.get("inBytes")) if isinstance(size, Mapping) else size
        return cls(str(get("model_id")), whole("n_layers", get("n_layers")) or 0,
                   whole("hidden_size", get("hidden_size")) or 0,
                   whole("num_key_value_heads", get("num_key_value_heads"), optional=True),
                   whole("storage_size", size) or 0, str(get("quantization") or ""), str(get("family") or ""),
                   str(get("base_model") or ""), bool(get("supports_tensor")))


def active_share(card: V1Card) -> tuple[float, str] | None:
    """(active / total parameters, where that came from) for a mixture-of-experts card, else None."""
    m = MOE_NAME_RE.search(card.base_model) or MOE_NAME_RE.search(card.model_id)
    if m:
        total, active = float(m.group(1)), float(m.group(2))
        if 0 < active < total:
            return active / total, f"{m.group(0)} in the name"
    row = ACTIVE_PARAMS.get(card.base_model)
    if row:
        total, active, src = row
        return active / total, f"{active:g}B of {total:g}B active ({src})"
    return None


def kv_per_token(card: V1Card) -> tuple[int, str]:
    if card.family in KV_PER_TOKEN:
        return KV_PER_TOKEN[card.family]
    heads = card.num_key_value_heads or DEFAULT_KV_HEADS
    how = f"{heads} kv heads x {DEFAULT_HEAD_DIM} x 2 (K,V) x {KV_BYTES} B"
    return 2 * heads * DEFAULT_HEAD_DIM * KV_BYTES, how if card.num_key_value_heads else how + " (assumed)"


def card_costs(card: V1Card) -> ModelCosts:
    """The card's bytes over its n_layers, as the planner's ModelCosts (MoE: ffn_active set)."""
    L = card.n_layers
    per = card.storage_bytes // L
    extra = card.storage_bytes - per * L  # the remainder goes to the first layers, a byte each
    moe = active_share(card)
    kv, kv_how = kv_per_token(card)
    layers = []
    for i in range(L):
        w = per + (1 if i < extra else 0)
        active = None if moe is None else int(math.ceil(w * moe[0]))
        layers.append(LayerCost(0, 0, w, kv, ffn_active=active))
    src = f"exo v1 card {card.model_id}: {card.storage_bytes} bytes over {L} layers; KV {kv_how}"
    if moe:
        src += f"; MoE, a token reads {moe[0]:.3f} of each layer ({moe[1]})"
    q = {"name": card.quantization} if card.quantization else {}
    return ModelCosts(card.model_id, tuple(layers), 0, 0, 0, False, 0, "unknown", q, src)


def streamed_bytes(layer: LayerCost) -> int:
    """Bytes of weights one token reads in a layer (MoE: only the active experts)."""
    ffn = layer.ffn if layer.ffn_active is None else min(layer.ffn, layer.ffn_active)
    return layer.attention + layer.norm + ffn
