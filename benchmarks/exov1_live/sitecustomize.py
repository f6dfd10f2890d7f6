"""A placeholder for mlx_lm.models.deepseek_v4 (run.sh only).

exo v1's MLX engine imports it unconditionally; it exists only in exo's git fork of mlx-lm,
not in PyPI's mlx-lm. Empty classes under the names exo imports let the llama path import;
a DeepSeek V4 model would not run.
"""
import sys
import types

_m = types.ModuleType("mlx_lm.models.deepseek_v4")
for _n in ("Model", "DeepseekV4Cache", "_CompressorBranch", "DeepseekV4MoE", "V4Attention", "DeepseekV4Model"):
    setattr(_m, _n, type(_n, (), {}))
sys.modules["mlx_lm.models.deepseek_v4"] = _m
