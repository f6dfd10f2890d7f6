"""A tiny Llama made on the spot, for running exo's MLX engine with nothing downloaded (runs in exo's venv).

    python tests/tiny_llama.py build OUT [--layers 16] [--corpus DIR ...]
    python tests/tiny_llama.py reference MODEL_DIR PROMPT MAX_TOKENS     # mlx-lm's own greedy tokens, JSON

`build` writes a Hugging Face layout (config.json, model.safetensors + its index, tokenizer.json,
tokenizer_config.json with a Llama-3-style chat template, special_tokens_map.json,
generation_config.json): a byte-level BPE tokenizer trained here on local text, and random weights
made with mlx-lm's own llama class under a fixed seed, saved as float32.

Random weights make greedy decoding repeat one token, which would make "the same tokens" a weak check.
So the head maps each token's embedding to a fixed random successor token (a permutation), and the
residual branches (o_proj, down_proj) are damped: the output walks through many different tokens, and
the transformer layers still decide some steps (a wrong layer split changes the tokens).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n' + m['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def corpus(dirs: list[str]) -> list[str]:
    files = []
    for d in dirs:
        files += sorted(str(p) for p in Path(d).rglob("*.md") if p.stat().st_size > 0)
    stdlib = Path(os.__file__).parent
    files += sorted(str(p) for p in stdlib.glob("*.py"))[:60]
    return files


def build(out: Path, layers: int, dirs: list[str], vocab: int = 4096, hidden: int = 256, seed: int = 0) -> dict:
    import mlx.core as mx
    import numpy as np
    from mlx.utils import tree_flatten
    from mlx_lm.models import llama
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train(corpus(dirs), trainers.BpeTrainer(vocab_size=vocab, min_frequency=2, special_tokens=SPECIALS,
                                                 initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                 show_progress=False))
    tok.post_processor = processors.ByteLevel(trim_offsets=False)  # like Llama 3: the template writes BOS
    tok.save(str(out / "tokenizer.json"))
    bos, eot = tok.token_to_id("<|begin_of_text|>"), tok.token_to_id("<|eot_id|>")
    specials = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "pad_token": "<|end_of_text|>"}
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", **specials, "model_max_length": 2048,
        "clean_up_tokenization_spaces": False, "chat_template": CHAT_TEMPLATE}, indent=1))
    (out / "special_tokens_map.json").write_text(json.dumps(specials, indent=1))
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden,
        "intermediate_size": 3 * hidden, "num_hidden_layers": layers, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": hidden // 4, "vocab_size": tok.get_vocab_size(),
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 2048,
        "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False, "hidden_act": "silu",
        "bos_token_id": bos, "eos_token_id": eot, "torch_dtype": "float32"}
    (out / "config.json").write_text(json.dumps(config, indent=1))
    (out / "generation_config.json").write_text(json.dumps({"bos_token_id": bos, "eos_token_id": eot}))

    mx.random.seed(seed)
    model = llama.Model(llama.ModelArgs.from_dict(config))
    weights = {k: v.astype(mx.float32) for k, v in tree_flatten(model.parameters())}
    for k in weights:
        if k.endswith(("o_proj.weight", "down_proj.weight")):
            weights[k] = weights[k] * 0.2
    emb = np.array(weights["model.embed_tokens.weight"])
    head = np.zeros_like(emb)
    head[np.random.default_rng(seed + 1).permutation(emb.shape[0])] = emb
    weights["lm_head.weight"] = mx.array(head)
    mx.eval(weights)
    mx.save_safetensors(str(out / "model.safetensors"), weights, metadata={"format": "mlx"})
    total = sum(v.nbytes for v in weights.values())
    (out / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": total}, "weight_map": {k: "model.safetensors" for k in sorted(weights)}}))
    return {"layers": layers, "vocab": config["vocab_size"], "bytes": total}


def reference(model_dir: str, content: str, n: int) -> dict:
    import mlx.core as mx
    from mlx_lm import load
    from mlx_lm.utils import generate_step

    model, tok = load(model_dir)
    prompt = tok.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                     add_generation_prompt=True)
    ids = tok.encode(prompt)
    out = []
    for (t, _), _ in zip(generate_step(mx.array(ids), model, max_tokens=n), range(n), strict=False):  # greedy (temp 0)
        out.append(int(t))
        if out[-1] == tok.eos_token_id:
            break
    return {"prompt_tokens": len(ids), "tokens": out}


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("out")
    b.add_argument("--layers", type=int, default=16)
    b.add_argument("--corpus", action="append", default=[])
    r = sub.add_parser("reference")
    r.add_argument("model_dir")
    r.add_argument("prompt")
    r.add_argument("max_tokens", type=int)
    a = ap.parse_args()
    if a.cmd == "build":
        print(json.dumps(build(Path(a.out), a.layers, a.corpus)))
    else:
        print(json.dumps(reference(a.model_dir, a.prompt, a.max_tokens)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
