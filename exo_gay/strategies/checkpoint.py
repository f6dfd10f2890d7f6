"""What a model's checkpoint holds, layer by layer (attention / norm / FFN), KV cache, embedding, head.

Counted analytically from a config's architecture facts: every tensor mlx-lm builds for the
family, at the checkpoint dtype, and for a quantized checkpoint the bytes MLX's affine
quantization stores (packed weights, plus a scale and a bias per group). No mlx is needed.

Where exo's MLX engine keeps the non-layer weights: the embedding (and llava's vision tower)
on the node that holds layer 0; the final norm and lm_head on the node that holds the last
layer; with tied embeddings that node loads embed_tokens as its head, so a tied embedding is
counted twice when first and last layer are on different nodes.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .. import jsonfile
from ..errors import InputError
from ..spi import Polarity

GB = 1e9
KV_BYTES = 2  # the KV cache holds activations in the compute dtype (fp16/bf16)
# A model nobody can cost: uniform layers sized from the id ("...-70B-...-4bit"), else this.
FALLBACK_LAYER_BYTES = 256 * 2**20
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
# the polarity each part of a layer carries (the triad of spi.Polarity)
POLARITY = {"attention": Polarity.MINUS, "norm": Polarity.ERGODIC, "ffn": Polarity.PLUS}


class ModelNotFound(InputError):
    """No usable config for this model here (nothing is ever fetched from the network)."""


@dataclass(frozen=True)
class LayerCost:
    attention: int  # attention weights, bytes (polarity MINUS)
    norm: int  # norm weights (polarity ERGODIC)
    ffn: int  # FFN / MoE experts / other mixers (polarity PLUS)
    kv_per_token: int  # KV-cache bytes per token of context
    kv_window: int | None = None  # sliding window in tokens; None = full attention
    kv_fixed: int = 0  # constant recurrent state (SSM-style layers), independent of context
    ffn_active: int | None = None  # FFN bytes one token reads (MoE: shared + top-k experts); None = all of ffn

    @property
    def weights(self) -> int:
        return self.attention + self.norm + self.ffn

    def kv_bytes(self, context: int) -> int:
        tokens = context if self.kv_window is None else min(context, self.kv_window)
        return self.kv_per_token * tokens + self.kv_fixed


@dataclass(frozen=True)
class ModelCosts:
    model_id: str
    layers: tuple[LayerCost, ...]
    embedding: int  # on the node holding layer 0
    final_norm: int  # on the node holding the last layer
    head: int  # lm_head; with tied embeddings the embedding matrix again
    tied: bool
    other: int = 0  # non-layer weights kept with the embedding (llava's vision tower)
    dtype: str = "bfloat16"
    quantization: dict = field(default_factory=dict)
    source: str = ""  # where the numbers came from: "card table", "config file <path>", "estimate ..."

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    def total_weight_bytes(self) -> int:
        """Bytes of the checkpoint (each tensor once)."""
        head = 0 if self.tied else self.head
        return sum(ly.weights for ly in self.layers) + self.embedding + self.final_norm + head + self.other

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["layers"] = [asdict(ly) for ly in self.layers]
        d["n_layers"] = self.n_layers
        d["total_weight_bytes"] = self.total_weight_bytes()
        return d


# ----------------------------------------------------------------------------- locating configs

def _hf_hub_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("HF_HUB_CACHE"):
        dirs.append(Path(os.environ["HF_HUB_CACHE"]))
    if os.environ.get("HF_HOME"):
        dirs.append(Path(os.environ["HF_HOME"]) / "hub")
    dirs.append(Path.home() / ".cache" / "huggingface" / "hub")
    return dirs


def exo_downloads() -> Path:
    """Where legacy exo keeps models: $EXO_HOME/downloads/<org>--<name> (EXO_HOME = ~/.cache/exo)."""
    return Path(os.environ.get("EXO_HOME", Path.home() / ".cache" / "exo")) / "downloads"


def local_path_config(model: str) -> Path | None:
    """config.json when `model` names a file or folder here, else None."""
    p = Path(model).expanduser()
    if p.is_file():
        return p
    if p.is_dir():
        if (p / "config.json").is_file():
            return p / "config.json"
        raise ModelNotFound(f"model folder {model} has no config.json")
    return None


def cached_repo_config(repo: str) -> Path | None:
    """config.json of an org/name repo in exo's downloads or the Hugging Face cache, else None."""
    if "/" not in repo:
        return None
    folder = repo.replace("/", "--")
    candidates = [exo_downloads() / folder / "config.json"]
    for hub in _hf_hub_dirs():
        snaps = hub / f"models--{folder}" / "snapshots"
        if snaps.is_dir():
            candidates += sorted(snaps.glob("*/config.json"), key=lambda q: q.stat().st_mtime, reverse=True)
    return next((c for c in candidates if c.is_file()), None)


def find_config(model: str) -> Path:
    """config.json for a path, a model folder, or a repo id in the HF cache / exo's downloads."""
    found = local_path_config(model) or cached_repo_config(model)
    if found is None:
        raise ModelNotFound(f"model {model}: no config.json at that path, in the Hugging Face cache or in exo's "
                            f"downloads ({exo_downloads()}); nothing is fetched from the network")
    return found


def read_config(path: Path) -> dict:
    config = jsonfile.read(str(path), "model config", error=ModelNotFound)
    if not isinstance(config, dict) or "model_type" not in config:
        raise ModelNotFound(f"model config {path}: not a model config.json (no model_type)")
    return config


def load_config(model: str) -> tuple[dict, Path]:
    path = find_config(model)
    return read_config(path), path


# ----------------------------------------------------------------------------- the tensors of a model

@dataclass(frozen=True)
class Tensor:
    path: str  # mlx-lm's parameter path (without .weight), for per-path quantization overrides
    part: str  # attention | norm | ffn | embedding | head | final_norm | other
    layer: int | None
    shape: tuple[int, ...]  # (out, in) for a matrix, (experts, out, in) for experts, (n,) for a vector
    quantizable: bool  # mlx-lm's converter quantizes it (Linear, Embedding, SwitchLinear)


def _int(cfg: dict, key: str, default: Any = None) -> int:
    v = cfg.get(key, default)
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or v != int(v):
        raise ModelNotFound(f"model config: {key} is missing or not a non-negative integer ({v!r})")
    return int(v)


def _linear(path: str, part: str, layer: int | None, out: int, inp: int, bias: bool = False) -> Iterator[Tensor]:
    yield Tensor(path, part, layer, (out, inp), True)
    if bias:
        yield Tensor(path + ".bias", part, layer, (out,), False)


def _norm(path: str, layer: int | None, n: int, bias: bool = False, part: str = "norm") -> Iterator[Tensor]:
    yield Tensor(path, part, layer, (n,), False)
    if bias:
        yield Tensor(path + ".bias", part, layer, (n,), False)


def _head_dim(cfg: dict) -> int:
    hd = cfg.get("head_dim")
    if hd is not None:
        return _int(cfg, "head_dim")
    return _int(cfg, "hidden_size") // max(1, _int(cfg, "num_attention_heads"))


def _dense_layers(cfg: dict, family: str, prefix: str = "model") -> Iterator[Tensor]:
    """llama / mistral / qwen2 / phi3 / gemma2: GQA attention, gated MLP, RMSNorms."""
    h, n_layers = _int(cfg, "hidden_size"), _int(cfg, "num_hidden_layers")
    heads = _int(cfg, "num_attention_heads")
    kv_heads = _int(cfg, "num_key_value_heads", heads)
    hd, inter = _head_dim(cfg), _int(cfg, "intermediate_size")
    qkv_bias = family == "qwen2" or bool(cfg.get("attention_bias", False))
    o_bias = family not in ("qwen2",) and bool(cfg.get("attention_bias", False))
    mlp_bias = bool(cfg.get("mlp_bias", False))
    for i in range(n_layers):
        p = f"{prefix}.layers.{i}"
        if family == "phi3":  # fused projections: same bytes, groups run along the input
            yield from _linear(f"{p}.self_attn.qkv_proj", "attention", i, (heads + 2 * kv_heads) * hd, h)
            yield from _linear(f"{p}.self_attn.o_proj", "attention", i, h, heads * hd)
            yield from _linear(f"{p}.mlp.gate_up_proj", "ffn", i, 2 * inter, h)
            yield from _linear(f"{p}.mlp.down_proj", "ffn", i, h, inter)
        else:
            yield from _linear(f"{p}.self_attn.q_proj", "attention", i, heads * hd, h, qkv_bias)
            yield from _linear(f"{p}.self_attn.k_proj", "attention", i, kv_heads * hd, h, qkv_bias)
            yield from _linear(f"{p}.self_attn.v_proj", "attention", i, kv_heads * hd, h, qkv_bias)
            yield from _linear(f"{p}.self_attn.o_proj", "attention", i, h, heads * hd, o_bias)
            yield from _linear(f"{p}.mlp.gate_proj", "ffn", i, inter, h, mlp_bias)
            yield from _linear(f"{p}.mlp.up_proj", "ffn", i, inter, h, mlp_bias)
            yield from _linear(f"{p}.mlp.down_proj", "ffn", i, h, inter, mlp_bias)
        norms = ["input_layernorm", "post_attention_layernorm"]
        if family == "gemma2":
            norms += ["pre_feedforward_layernorm", "post_feedforward_layernorm"]
        for n in norms:
            yield from _norm(f"{p}.{n}", i, h)


def _deepseek_layers(cfg: dict, v3: bool) -> Iterator[Tensor]:
    """DeepSeek V2/V3: multi-head latent attention, MoE after the first dense layers."""
    h, n_layers, heads = _int(cfg, "hidden_size"), _int(cfg, "num_hidden_layers"), _int(cfg, "num_attention_heads")
    nope, rope, vdim = _int(cfg, "qk_nope_head_dim"), _int(cfg, "qk_rope_head_dim"), _int(cfg, "v_head_dim")
    kv_rank = _int(cfg, "kv_lora_rank")
    q_rank = cfg.get("q_lora_rank")
    experts, moe_inter = _int(cfg, "n_routed_experts"), _int(cfg, "moe_intermediate_size")
    shared = _int(cfg, "n_shared_experts", 0)
    first_dense, freq = _int(cfg, "first_k_dense_replace", 0), max(1, _int(cfg, "moe_layer_freq", 1))
    inter = _int(cfg, "intermediate_size")
    bias = bool(cfg.get("attention_bias", False))
    for i in range(n_layers):
        p = f"model.layers.{i}"
        a = f"{p}.self_attn"
        if q_rank is None:
            yield from _linear(f"{a}.q_proj", "attention", i, heads * (nope + rope), h)
        else:
            yield from _linear(f"{a}.q_a_proj", "attention", i, _int(cfg, "q_lora_rank"), h, bias)
            yield from _norm(f"{a}.q_a_layernorm", i, _int(cfg, "q_lora_rank"))
            yield from _linear(f"{a}.q_b_proj", "attention", i, heads * (nope + rope), _int(cfg, "q_lora_rank"))
        yield from _linear(f"{a}.kv_a_proj_with_mqa", "attention", i, kv_rank + rope, h, bias)
        yield from _norm(f"{a}.kv_a_layernorm", i, kv_rank)
        yield from _linear(f"{a}.kv_b_proj", "attention", i, heads * (nope + vdim), kv_rank)
        yield from _linear(f"{a}.o_proj", "attention", i, h, heads * vdim, bias)
        m = f"{p}.mlp"
        if i >= first_dense and i % freq == 0:
            for name, out, inp in (("gate_proj", moe_inter, h), ("up_proj", moe_inter, h), ("down_proj", h, moe_inter)):
                yield Tensor(f"{m}.switch_mlp.{name}", "ffn", i, (experts, out, inp), True)
            yield Tensor(f"{m}.gate.weight", "ffn", i, (experts, h), False)  # the router: a plain array
            if v3:
                yield Tensor(f"{m}.gate.e_score_correction_bias", "ffn", i, (experts,), False)
            if shared:
                si = moe_inter * shared
                yield from _linear(f"{m}.shared_experts.gate_proj", "ffn", i, si, h)
                yield from _linear(f"{m}.shared_experts.up_proj", "ffn", i, si, h)
                yield from _linear(f"{m}.shared_experts.down_proj", "ffn", i, h, si)
        else:
            yield from _linear(f"{m}.gate_proj", "ffn", i, inter, h)
            yield from _linear(f"{m}.up_proj", "ffn", i, inter, h)
            yield from _linear(f"{m}.down_proj", "ffn", i, h, inter)
        yield from _norm(f"{p}.input_layernorm", i, h)
        yield from _norm(f"{p}.post_attention_layernorm", i, h)


def _clip_vision(vc: dict) -> Iterator[Tensor]:
    """llava's CLIP vision tower and projector input (exo loads them with layer 0)."""
    h, inter, n = _int(vc, "hidden_size"), _int(vc, "intermediate_size"), _int(vc, "num_hidden_layers")
    patch, image = _int(vc, "patch_size"), _int(vc, "image_size")
    channels = _int(vc, "num_channels", 3)
    v = "vision_tower.vision_model"
    yield Tensor(f"{v}.embeddings.class_embedding", "other", None, (h,), False)
    yield Tensor(f"{v}.embeddings.patch_embedding", "other", None, (h, patch * patch * channels), False)
    yield Tensor(f"{v}.embeddings.position_embedding", "other", None, ((image // patch) ** 2 + 1, h), False)
    yield from _norm(f"{v}.pre_layrnorm", None, h, True, "other")
    for i in range(n):
        p = f"{v}.encoder.layers.{i}"
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            yield from _linear(f"{p}.self_attn.{proj}", "other", None, h, h, True)
        yield from _norm(f"{p}.layer_norm1", None, h, True, "other")
        yield from _norm(f"{p}.layer_norm2", None, h, True, "other")
        yield from _linear(f"{p}.mlp.fc1", "other", None, inter, h, True)
        yield from _linear(f"{p}.mlp.fc2", "other", None, h, inter, True)
    yield from _norm(f"{v}.post_layernorm", None, h, True, "other")


FAMILIES = ("llama", "mistral", "qwen2", "phi3", "gemma2", "deepseek_v2", "deepseek_v3", "llava")


def model_tensors(config: dict) -> tuple[list[Tensor], dict]:
    """Every tensor of the model, and the text config it was read from."""
    kind = config.get("model_type")
    if kind not in FAMILIES:
        raise ModelNotFound(f"model_type {kind!r} is not supported by exo-gay's cost model "
                            f"(it counts {', '.join(FAMILIES)})")
    cfg, prefix = config, "model"
    out: list[Tensor] = []
    if kind == "llava":
        cfg = dict(config.get("text_config") or {})
        cfg.setdefault("vocab_size", config.get("vocab_size"))
        prefix = "language_model.model"
        vc = config.get("vision_config")
        if isinstance(vc, dict):
            out += _clip_vision(vc)
            vh, th = _int(vc, "hidden_size"), _int(cfg, "hidden_size")
            out += _linear("multi_modal_projector.linear_1", "other", None, th, vh, True)
            out += _linear("multi_modal_projector.linear_2", "other", None, th, th, True)
    h, vocab = _int(cfg, "hidden_size"), _int(cfg, "vocab_size")
    out.append(Tensor(f"{prefix}.embed_tokens", "embedding", None, (vocab, h), True))
    if kind.startswith("deepseek"):
        out += _deepseek_layers(cfg, kind == "deepseek_v3")
    else:
        out += _dense_layers(cfg, "llama" if kind in ("mistral", "llava") else kind, prefix)
    out += _norm(f"{prefix}.norm", None, h, part="final_norm")
    if not tied_embeddings(config):
        head = "language_model.lm_head" if kind == "llava" else "lm_head"
        out.append(Tensor(head, "head", None, (vocab, h), True))
    return out, cfg


# mlx-lm's default when a config does not say (its ModelArgs; gemma always ties)
_TIED_DEFAULT = {"llama": True, "mistral": True, "qwen2": True, "gemma2": True}


def text_config(config: dict) -> dict:
    """The language model's part of a config (llava nests it under text_config)."""
    return (config.get("text_config") or {}) if config.get("model_type") == "llava" else config


def tied_embeddings(config: dict) -> bool:
    kind = config.get("model_type")
    if kind == "gemma2":
        return True
    return bool(text_config(config).get("tie_word_embeddings", _TIED_DEFAULT.get(kind, False)))


def checkpoint_dtype(config: dict) -> str:
    d = config.get("torch_dtype") or config.get("dtype") or (config.get("text_config") or {}).get("torch_dtype")
    return d if d in DTYPE_BYTES else "bfloat16"


def quantization(config: dict) -> dict:
    """The checkpoint's MLX quantization ({"bits", "group_size", ...}); {} when unquantized."""
    q = config.get("quantization") or config.get("quantization_config")
    if not isinstance(q, dict) or "bits" not in q or "group_size" not in q:
        return {}
    return q


def quantized_bytes(rows: int, cols: int, bits: int, group_size: int, mode: str = "affine",
                    float_bytes: int = 2) -> int:
    """Bytes MLX stores for a quantized (rows x cols) matrix, grouped along cols.

    affine: packed weights (cols * bits / 8 bytes a row) + a scale and a bias per group at
    the float dtype; mxfp4: 4-bit weights + one uint8 scale per group of 32, no bias.
    """
    if cols % group_size:
        raise ModelNotFound(f"a {rows}x{cols} matrix does not split into groups of {group_size}")
    groups = cols // group_size
    if mode == "affine":
        return rows * cols * bits // 8 + 2 * rows * groups * float_bytes
    if mode == "mxfp4":
        return rows * cols * bits // 8 + rows * groups
    raise ModelNotFound(f"quantization mode {mode!r} is not counted (affine, mxfp4)")


def tensor_bytes(t: Tensor, q: dict, float_bytes: int) -> int:
    n = 1
    for d in t.shape:
        n *= d
    if not t.quantizable or not q:
        return n * float_bytes
    rule = q.get(t.path, None)  # the converter's per-path override: False, or its own bits/group
    if rule is False:
        return n * float_bytes
    rule = rule if isinstance(rule, dict) else q
    bits, gs = int(rule.get("bits", q["bits"])), int(rule.get("group_size", q["group_size"]))
    if t.shape[-1] % gs:
        return n * float_bytes  # mlx-lm leaves a matrix whose rows do not split into groups
    rows = n // t.shape[-1]
    return quantized_bytes(rows, t.shape[-1], bits, gs, str(rule.get("mode", q.get("mode", "affine"))), float_bytes)


def kv_per_token(config: dict) -> int:
    """KV-cache bytes per token per layer, as exo's MLX engine (mlx-lm 0.21's models) caches it.

    Grouped-query attention stores keys and values of the KV heads; DeepSeek's MLA under
    mlx-lm 0.21 caches the decompressed keys (nope + rope) and values of every head.
    """
    kind, cfg = config.get("model_type"), text_config(config)
    if kind in ("deepseek_v2", "deepseek_v3"):
        heads = _int(cfg, "num_attention_heads")
        per_head = _int(cfg, "qk_nope_head_dim") + _int(cfg, "qk_rope_head_dim") + _int(cfg, "v_head_dim")
        return heads * per_head * KV_BYTES
    heads = _int(cfg, "num_attention_heads")
    return 2 * _int(cfg, "num_key_value_heads", heads) * _head_dim(cfg) * KV_BYTES


def costs_from_config(config: dict, model_id: str = "", source: str = "") -> ModelCosts:
    """Exact bytes of the checkpoint the config describes, split by layer and polarity."""
    if not isinstance(config, dict):
        raise ModelNotFound(f"model {model_id or source}: config is not a JSON object")
    tensors, cfg = model_tensors(config)
    dtype = checkpoint_dtype(config)
    fb, q = DTYPE_BYTES[dtype], quantization(config)
    n_layers = _int(cfg, "num_hidden_layers")
    per = [{"attention": 0, "norm": 0, "ffn": 0} for _ in range(n_layers)]
    whole = {"embedding": 0, "head": 0, "final_norm": 0, "other": 0}
    for t in tensors:
        b = tensor_bytes(t, q, fb)
        if t.layer is None:
            whole[t.part] += b
        else:
            per[t.layer][t.part] += b
    tied = tied_embeddings(config)
    kv = kv_per_token(config)
    layers = tuple(LayerCost(p["attention"], p["norm"], p["ffn"], kv) for p in per)
    quant = {k: v for k, v in q.items() if k in ("bits", "group_size", "mode")}
    return ModelCosts(model_id or source, layers, whole["embedding"], whole["final_norm"],
                      whole["embedding"] if tied else whole["head"], tied, whole["other"], dtype, quant, source)


# ----------------------------------------------------------------------------- the estimate

_SIZE_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)[bB](?![a-zA-Z])")
_BITS_RE = re.compile(r"(\d+)[-_]?bit", re.IGNORECASE)


def uniform_costs(model_id: str, n_layers: int, why: str = "") -> ModelCosts:
    """An estimate for a model nobody can cost: n_layers equal layers, sized from the id.

    "Llama-3.1-70B-Instruct-4bit": 70e9 params x 4 bits / 8, spread over the layers (the
    embedding and head are folded into the layers); without a size in the id,
    FALLBACK_LAYER_BYTES per layer. Either way the plan stays memory-aware.
    """
    n = max(1, int(n_layers))
    size, bits = _SIZE_RE.search(model_id or ""), _BITS_RE.search(model_id or "")
    if size:
        total = float(size.group(1)) * 1e9 * (int(bits.group(1)) if bits else 16) / 8
        per_layer, how = int(total / n), f"{size.group(0)} parameters at {int(bits.group(1)) if bits else 16} bits"
    else:
        per_layer, how = FALLBACK_LAYER_BYTES, f"{FALLBACK_LAYER_BYTES // 2**20} MiB a layer"
    layer = LayerCost(0, 0, per_layer, 0)
    source = f"estimate from the name ({how})" + (f": {why}" if why else "")
    return ModelCosts(model_id, (layer,) * n, 0, 0, 0, False, 0, "unknown", {}, source)

