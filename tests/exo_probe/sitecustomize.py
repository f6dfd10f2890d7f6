"""Test probes inside a legacy exo node (imported at interpreter start when this folder is on PYTHONPATH).

Active only with EXO_GAY_TEST_PROBE=exo|exe (the package the node runs). They wrap exo functions in the
node's own process; no file of exo or exo-gay changes and exo's own commands run as they are.

* The HTTP API on 127.0.0.1: stock exo binds its API to 0.0.0.0 always; tests listen on loopback only.
* EXO_GAY_TEST_LOADS=1: after each shard load by exo's MLX engine, one line `exo-gay-test: loaded {...}`
  (the shard, the layer indices whose weights the model holds, bytes).
* Tokens: when a request finishes, one line `exo-gay-test: tokens {...}` with the token ids the node saw.
"""

import importlib
import json
import os
import sys


def _loopback_api(pkg):
    api = importlib.import_module(f"{pkg}.api.chatgpt_api")
    real_run = api.ChatGPTAPI.run

    async def run(self, host="127.0.0.1", port=52415):
        return await real_run(self, host="127.0.0.1", port=port)

    api.ChatGPTAPI.run = run


def _log_loads(pkg):
    eng = importlib.import_module(f"{pkg}.inference.mlx.sharded_inference_engine")
    real = eng.load_model_shard

    def load_model_shard(model_path, shard, lazy=False, model_config={}):  # noqa: B006 (exo's signature)
        model = real(model_path, shard, lazy=lazy, model_config=model_config)
        from mlx.utils import tree_flatten

        params = tree_flatten(model.parameters())
        held = sorted({int(k.split(".")[2]) for k, _ in params if k.startswith("model.layers.")})
        print("exo-gay-test: loaded " + json.dumps({
            "shard": [shard.start_layer, shard.end_layer, shard.n_layers], "layers": held,
            "embed": any(k.startswith("model.embed_tokens") for k, _ in params),
            "lm_head": any(k.startswith("lm_head") for k, _ in params),
            "bytes": int(sum(v.nbytes for _, v in params))}), flush=True)
        return model

    eng.load_model_shard = load_model_shard


def _log_tokens(pkg):
    node_mod = importlib.import_module(f"{pkg}.orchestration.node")
    Node = node_mod.Node
    real_init = Node.__init__

    def __init__(self, *a, **kw):
        real_init(self, *a, **kw)
        seen = {}

        def on_token(request_id, tokens, is_finished):
            seen.setdefault(request_id, []).extend(int(t) for t in tokens)
            if is_finished:
                print("exo-gay-test: tokens " + json.dumps({"node": self.id, "tokens": seen.pop(request_id)}),
                      flush=True)

        self.on_token.register("exo-gay-test-tokens").on_next(on_token)

    Node.__init__ = __init__


_pkg = os.environ.get("EXO_GAY_TEST_PROBE")
if _pkg in ("exo", "exe"):
    try:
        _loopback_api(_pkg)
        _log_tokens(_pkg)
        if os.environ.get("EXO_GAY_TEST_LOADS") == "1":
            _log_loads(_pkg)
    except Exception as e:  # a probe that cannot install must not pass for exo's own failure
        print(f"exo-gay-test: probe failed to install: {e.__class__.__name__}: {e}", file=sys.stderr, flush=True)
        raise
