"""A model's costs on a ring of nodes, as the planner's Problem (plain numbers)."""

from __future__ import annotations

from typing import Sequence

from .checkpoint import ModelCosts
from .nodes import Node
from .planner import Problem

DEFAULT_HOP_MS = 3.0  # assumed cost of one gRPC hop per token; --hop-ms overrides it
DEFAULT_CONTEXT = 4096
DEFAULT_PROMPT = 1024  # prompt tokens for time to first token
DEFAULT_GEN = 256  # tokens generated per request, for the "both" objective


def make_problem(costs: ModelCosts, ring: Sequence[Node], context: int = DEFAULT_CONTEXT,
                 hop_ms: float = DEFAULT_HOP_MS, prompt_tokens: int = DEFAULT_PROMPT,
                 gen_tokens: int = DEFAULT_GEN) -> Problem:
    """The planner's numbers for a model on these nodes (docs/partitioning.md, "The time model").

    Decode reads each layer's attention weights, its KV cache at `context` tokens, its norms and the
    FFN bytes a token uses (an MoE's active experts); memory holds every expert. FLOPs come from
    parameters (bytes x 8 / stored bits per weight): 2 per parameter per token, plus attention's
    2 x heads x (qk + v dims) per (query, cached token) pair.
    """
    bpw = costs.bits_per_weight
    P = max(1, int(prompt_tokens))
    pairs_prefill = P * (P + 1) / 2  # causal: token i attends to i tokens
    kv = [ly.kv_bytes(context) for ly in costs.layers]
    dec_parts, pre_parts, dec_flops = [], [], []
    for ly, k in zip(costs.layers, kv, strict=True):
        dec_parts.append((float(ly.attention + k), float(ly.norm), float(ly.ffn_read)))
        attn_p, ffn_p = ly.attention * 8 / bpw, ly.ffn_read * 8 / bpw
        ctx_pairs = min(context, ly.kv_window) if ly.kv_window is not None else context
        pre_parts.append((2 * P * attn_p + costs.attn_pair_flops * pairs_prefill, 0.0, 2 * P * ffn_p))
        dec_flops.append(2 * (attn_p + ffn_p) + costs.attn_pair_flops * ctx_pairs)
    head_params = costs.head * 8 / bpw
    return Problem(
        time_bytes=tuple(sum(x) for x in dec_parts),
        mem_bytes=tuple(float(ly.weights + k) for ly, k in zip(costs.layers, kv, strict=True)),
        budgets=tuple(float(n.budget_bytes) for n in ring),
        gbps=tuple(float(n.gbps) for n in ring),
        first_mem=float(costs.embedding + costs.other),
        last_mem=float(costs.final_norm + costs.head),
        last_time=float(costs.final_norm + costs.head),
        both_saving=float(costs.embedding) if costs.tied else 0.0,
        hop_ms=float(hop_ms),
        tflops=tuple(float(n.tflops) for n in ring),
        decode_flops=tuple(dec_flops),
        prefill_flops=tuple(sum(x) for x in pre_parts),
        prefill_bytes=tuple(float(ly.weights) for ly in costs.layers),
        last_prefill_flops=2 * P * head_params,
        decode_parts=tuple(dec_parts),
        prefill_parts=tuple(pre_parts),
        gen_tokens=max(0, int(gen_tokens)),
    )
