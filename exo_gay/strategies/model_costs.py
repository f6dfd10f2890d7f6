"""What a model costs, layer by layer: the triad (attention / norms / FFN), KV cache, embedding, head.

Bytes come from mlx-lm's own model class built from config.json, never from weights: MLX
arrays are lazy, so building even a 405B model allocates nothing as long as nothing is
evaluated (nothing here calls mx.eval, .item() or reads array data; only shapes and dtypes).
Quantization is applied the way mlx-lm's converter applies it (nn.quantize with the
config's group size and bits, per-path overrides first, then the model's own
quant_predicate), and every float tensor is counted at the checkpoint's dtype.

Where exo's MLX engine keeps the non-layer weights (exo/inference/mlx/models/*.py): the
embedding lives on the node that holds layer 0; the final norm and lm_head on the node that
holds the last layer; with tied embeddings the last node loads embed_tokens as its head, so a
tied embedding is counted twice when first and last layer are on different nodes.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

GB = 1e9
KV_BYTES = 2  # the KV cache holds activations in the model's compute dtype (fp16/bf16)
# A model that cannot be found locally is costed as uniform layers; its size comes from the
# parameter count and bits in its id ("Llama-3.1-70B-...-4bit"), else this per-layer guess.
FALLBACK_LAYER_BYTES = 256 * 2**20

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}


class ModelNotFound(ValueError):
    """No config.json for this model on this machine (we never fetch from the network)."""


@dataclass(frozen=True)
class LayerCost:
    minus: int  # attention weights (bytes)
    ergodic: int  # norm weights
    plus: int  # FFN / MoE experts / other mixers
    kv_per_token: int  # KV-cache bytes per token of context
    kv_window: int | None = None  # sliding window in tokens; None = full attention
    kv_fixed: int = 0  # constant recurrent state (SSM-style layers), independent of context

    @property
    def weights(self) -> int:
        return self.minus + self.ergodic + self.plus

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
    other: int = 0  # non-layer weights that fit none of the above (kept with the embedding)
    dtype: str = "bfloat16"
    quantization: dict = field(default_factory=dict)
    source: str = ""  # where the numbers came from (config path, or "uniform fallback")

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    def total_weight_bytes(self) -> int:
        """Bytes of the checkpoint (each tensor once)."""
        head = 0 if self.tied else self.head
        return sum(l.weights for l in self.layers) + self.embedding + self.final_norm + head + self.other

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["layers"] = [asdict(l) for l in self.layers]
        d["n_layers"] = self.n_layers
        d["total_weight_bytes"] = self.total_weight_bytes()
        return d


# ----------------------------------------------------------------------------- locating models

def _hf_hub_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("HF_HUB_CACHE"):
        dirs.append(Path(os.environ["HF_HUB_CACHE"]))
    if os.environ.get("HF_HOME"):
        dirs.append(Path(os.environ["HF_HOME"]) / "hub")
    dirs.append(Path.home() / ".cache" / "huggingface" / "hub")
    return dirs


def _exo_downloads() -> Path:
    # exo (legacy) keeps models in $EXO_HOME/downloads/<org>--<name>, EXO_HOME = ~/.cache/exo
    return Path(os.environ.get("EXO_HOME", Path.home() / ".cache" / "exo")) / "downloads"


def find_config(model: str) -> Path:
    """config.json for a path, a model folder, or a repo id in the HF cache / exo's downloads."""
    p = Path(model).expanduser()
    if p.is_file():
        return p
    if p.is_dir():
        if (p / "config.json").is_file():
            return p / "config.json"
        raise ModelNotFound(f"model folder {model} has no config.json")
    if "/" in model and not model.endswith(".json"):
        folder = model.replace("/", "--")
        candidates = [_exo_downloads() / folder / "config.json"]
        for hub in _hf_hub_dirs():
            snaps = hub / f"models--{folder}" / "snapshots"
            if snaps.is_dir():
                candidates += sorted(snaps.glob("*/config.json"), key=lambda q: q.stat().st_mtime, reverse=True)
        for c in candidates:
            if c.is_file():
                return c
    raise ModelNotFound(f"model {model}: no config.json at that path, in the Hugging Face cache or in exo's "
                        f"downloads ({_exo_downloads()}); nothing is fetched from the network")


def load_config(model: str) -> tuple[dict, Path]:
    from ..cliutil import read_json_file

    path = find_config(model)
    config = read_json_file(str(path), "model config", error=ModelNotFound)
    if not isinstance(config, dict) or "model_type" not in config:
        raise ModelNotFound(f"model config {path}: not a model config.json (no model_type)")
    return config, path


# ----------------------------------------------------------------------------- costing

_LAYER_RE = re.compile(r"(?:^|\.)layers\.(\d+)\.(.*)$")
_ATTN_WORDS = ("attn", "attention")


def _checkpoint_dtype(config: dict) -> str:
    d = config.get("torch_dtype") or config.get("dtype") or (config.get("text_config") or {}).get("torch_dtype")
    return d if d in DTYPE_BYTES else "bfloat16"


def _param_bytes(arr, dtype_bytes: int) -> int:
    import mlx.core as mx

    if arr.dtype in (mx.uint32, mx.uint8, mx.int32, mx.int8):
        return int(arr.nbytes)  # packed quantized weights: stored as-is
    return int(arr.size) * dtype_bytes  # float tensors: stored at the checkpoint dtype


def _quantize_like_converter(model, config: dict) -> None:
    import mlx.nn as nn

    q = config.get("quantization") or config.get("quantization_config")
    if not isinstance(q, dict) or "bits" not in q or "group_size" not in q:
        return
    own = getattr(model, "quant_predicate", None)

    def predicate(path, module):
        if path in q:  # per-path override written by the converter (dict or False)
            return q[path]
        if not hasattr(module, "to_quantized"):
            return False
        w = getattr(module, "weight", None)
        if w is None or w.shape[-1] % q["group_size"] != 0:
            return False
        return own(path, module) if own is not None else True

    nn.quantize(model, group_size=q["group_size"], bits=q["bits"], mode=q.get("mode", "affine"),
                class_predicate=predicate)


def _kv_from_caches(model, n_layers: int, fallback: int) -> list[tuple[int, int | None, int]]:
    """(bytes per token, window, fixed bytes) per layer from mlx-lm's own cache objects.

    The cache kind (full, rotating window, recurrent state) comes from model.make_cache().
    Bytes per token come from the attention module's key/value projection widths, which is
    what the cache stores for standard and grouped-query attention; MLA (DeepSeek V2/V3)
    caches the compressed latent plus the rope key instead.
    """
    kinds: list[tuple[str, int | None]] = [("full", None)] * n_layers
    make = getattr(model, "make_cache", None)
    if make is not None:
        try:
            caches = make()
            kinds = []
            for c in caches:
                name = type(c).__name__
                if "Rotating" in name:
                    kinds.append(("window", int(getattr(c, "max_size", 0)) or None))
                elif "Arrays" in name or "Mamba" in name:
                    kinds.append(("state", None))
                else:
                    kinds.append(("full", None))
        except Exception:  # a model whose make_cache needs more than the config: assume full
            kinds = [("full", None)] * n_layers
    layers = list(getattr(model, "layers", []))
    out = []
    for i in range(n_layers):
        kind, window = kinds[i] if i < len(kinds) else ("full", None)
        if kind == "state":
            out.append((0, None, 0))
            continue
        per_tok = _attn_kv_width(layers[i]) if i < len(layers) else None
        out.append(((per_tok if per_tok is not None else fallback) * KV_BYTES, window, 0))
    return out


def _out_features(lin) -> int | None:
    w = getattr(lin, "weight", None)
    if w is None:
        return None
    bits = getattr(lin, "bits", None)
    return int(w.shape[0]) if bits is None or w.ndim == 2 else None


def _attn_kv_width(layer) -> int | None:
    attn = None
    for name in ("self_attn", "attention", "attn", "mixer"):
        attn = getattr(layer, name, None)
        if attn is not None:
            break
    if attn is None:
        return None
    if hasattr(attn, "kv_lora_rank") and hasattr(attn, "qk_rope_head_dim"):
        return int(attn.kv_lora_rank) + int(attn.qk_rope_head_dim)  # MLA: latent + rope key
    k, v = getattr(attn, "k_proj", None), getattr(attn, "v_proj", None)
    if k is not None and v is not None:
        ko, vo = _out_features(k), _out_features(v)
        if ko is not None and vo is not None:
            return ko + vo
    n_kv = getattr(attn, "n_kv_heads", None) or getattr(attn, "num_key_value_heads", None)
    hd = getattr(attn, "head_dim", None)
    if n_kv and hd:
        return 2 * int(n_kv) * int(hd)
    return None


def costs_from_config(config: dict, model_id: str = "", source: str = "") -> ModelCosts:
    """Exact per-layer bytes for a config.json, through mlx-lm's model class (lazy, no weights)."""
    from mlx.utils import tree_flatten
    from mlx_lm.utils import _get_classes

    try:
        model_class, args_class = _get_classes(config=config)
    except ValueError as e:
        raise ModelNotFound(f"model {model_id or source}: {e} (by this mlx-lm)") from None
    args = args_class.from_dict(config)
    model = model_class(args)
    _quantize_like_converter(model, config)
    dtype = _checkpoint_dtype(config)
    nbytes = DTYPE_BYTES[dtype]

    params = tree_flatten(model.parameters())
    n_layers = len(getattr(model, "layers", [])) or int(config.get("num_hidden_layers", 0))
    per = [[0, 0, 0] for _ in range(n_layers)]
    embedding = final_norm = head = other = 0
    for name, arr in params:
        b = _param_bytes(arr, nbytes)
        m = _LAYER_RE.search(name)
        if m and int(m.group(1)) < n_layers:
            i, rest = int(m.group(1)), m.group(2)
            leaf_module = rest.rsplit(".", 1)[0]
            if "norm" in leaf_module.rsplit(".", 1)[-1]:
                per[i][1] += b
            elif any(w in rest.split(".", 1)[0] for w in _ATTN_WORDS):
                per[i][0] += b
            else:
                per[i][2] += b
        elif "embed" in name or "wte" in name:
            embedding += b
        elif "lm_head" in name or name.startswith("output"):
            head += b
        elif "norm" in name:
            final_norm += b
        else:
            other += b
    tied = bool(getattr(args, "tie_word_embeddings", config.get("tie_word_embeddings", False))) and head == 0
    if tied:
        head = embedding
    hd = config.get("head_dim") or (config.get("hidden_size", 0) // max(1, config.get("num_attention_heads", 1)))
    fallback_kv = 2 * int(config.get("num_key_value_heads", config.get("num_attention_heads", 0)) or 0) * int(hd or 0)
    kv = _kv_from_caches(model, n_layers, fallback_kv)
    layers = tuple(LayerCost(p[0], p[1], p[2], kv[i][0], kv[i][1], kv[i][2]) for i, p in enumerate(per))
    quant = config.get("quantization") if isinstance(config.get("quantization"), dict) else {}
    quant = {k: v for k, v in (quant or {}).items() if k in ("bits", "group_size", "mode")}
    return ModelCosts(model_id or source, layers, embedding, final_norm, head, tied, other, dtype, quant, source)


_COSTS_CACHE: dict[str, ModelCosts] = {}


def load_costs(model: str) -> ModelCosts:
    """Costs for a config path, model folder, or locally cached repo id (cached per process)."""
    if model not in _COSTS_CACHE:
        config, path = load_config(model)
        local = Path(model).expanduser()
        model_id = model if not local.exists() else (local.stem if local.is_file() else local.name)
        _COSTS_CACHE[model] = costs_from_config(config, model_id=model_id or str(path), source=str(path))
    return _COSTS_CACHE[model]


_SIZE_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)[bB](?![a-zA-Z])")
_BITS_RE = re.compile(r"(\d+)[-_]?bit", re.IGNORECASE)


def uniform_costs(model_id: str, n_layers: int) -> ModelCosts:
    """A model we cannot find: n_layers equal layers, sized from the id when it says how big.

    "Llama-3.1-70B-Instruct-4bit": 70e9 params x 4 bits / 8, spread over the layers (the
    embedding and head are folded into the layers). Without a size in the id,
    FALLBACK_LAYER_BYTES per layer. Either way the plan stays memory-aware.
    """
    n = max(1, int(n_layers))
    size, bits = _SIZE_RE.search(model_id or ""), _BITS_RE.search(model_id or "")
    if size:
        total = float(size.group(1)) * 1e9 * (int(bits.group(1)) if bits else 16) / 8
        per_layer = int(total / n)
    else:
        per_layer = FALLBACK_LAYER_BYTES
    layer = LayerCost(0, 0, per_layer, 0)
    return ModelCosts(model_id, (layer,) * n, 0, 0, 0, False, 0, "unknown", {}, "uniform fallback")
