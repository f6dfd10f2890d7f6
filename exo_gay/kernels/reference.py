"""The pure-Python backend: spi.py itself behind the backend interface.

About 3 million colours per second on one core (`exo-gay bench`: 3.4 M/s here).  It exists
so that every code path above the kernel can run, and be tested, on a machine where numba is
unavailable; `--backend python`.
"""

from __future__ import annotations

from .. import gayhy, spi


class PythonReference:
    name = "python"
    device = "cpu"

    def xor_piece(self, seed: int, start: int, count: int, algorithm: str) -> int:
        if algorithm == "canonical":
            return spi.xor_range(seed, start, count)
        if algorithm == "gayhy-turbo32":
            return gayhy.turbo32_xor(seed, start, count)
        raise ValueError(f"unknown algorithm {algorithm!r}")
