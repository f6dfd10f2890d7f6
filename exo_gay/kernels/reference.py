"""The pure-Python backend: spi.py itself behind the backend interface (`--backend python`)."""

from __future__ import annotations

from .. import gayhy, spi


class PythonReference:
    name = "python"

    def xor_piece(self, seed: int, start: int, count: int, algorithm: str) -> int:
        return gayhy.xor_function(algorithm, spi.xor_range, gayhy.turbo32_xor)(seed, start, count)

    def furthest_piece(self, seed: int, start: int, count: int) -> tuple[int, int, int] | None:
        return spi.furthest_range(seed, start, count)

    def near_fixed_piece(self, seed: int, start: int, count: int) -> tuple[int, int, int] | None:
        return spi.near_fixed_range(seed, start, count)

    def cycle_probe(self, h0: int, depth: int, mask: int = spi.MASK64) -> tuple[int, int] | None:
        return spi.cycle_within(h0, depth, mask)
