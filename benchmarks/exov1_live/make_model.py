"""A tiny random llama (16 layers, char-level tokenizer) written with mlx-lm, staged under exo's card Llama-3.2-1B.

    python make_model.py OUT_DIR
"""

import json
import os
import sys

import mlx.core as mx
from mlx.utils import tree_flatten
from mlx_lm.models import llama
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant: {% endif %}")


def main(out: str) -> None:
    os.makedirs(out, exist_ok=True)
    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>"] + [chr(c) for c in range(32, 127)])}
    cfg = dict(model_type="llama", hidden_size=64, num_hidden_layers=16, intermediate_size=128,
               num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5, vocab_size=len(vocab),
               tie_word_embeddings=False, rope_theta=10000.0, max_position_embeddings=512,
               architectures=["LlamaForCausalLM"], bos_token_id=1, eos_token_id=2, torch_dtype="float32")
    model = llama.Model(llama.ModelArgs.from_dict(cfg))
    mx.random.seed(7)
    # larger than mlx's init, so that greedy decoding does not repeat one token
    w = {k: (v if "norm" in k else mx.random.normal(v.shape) * 0.35) for k, v in tree_flatten(model.parameters())}
    mx.eval(w)
    mx.save_safetensors(os.path.join(out, "model.safetensors"), w, metadata={"format": "mlx"})
    total = sum(v.nbytes for v in w.values())
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": {k: "model.safetensors" for k in w}}, f)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    print(total, sorted(os.listdir(out)))


if __name__ == "__main__":
    main(sys.argv[1])
