"""Decode speed of a node from what exo v1 knows of it: its chip name (nodeIdentities.chipId).

Decode streams every weight once per token, so memory bandwidth is the speed that matters.
The figures are Apple's published unified-memory bandwidths (apple.com, each chip's tech
specs; the highest-binned variant where a chip comes in two). A chip not listed gets the
planner's "equal" speed (the median of the known nodes), and `exo-gay place --gbps` overrides.
"""

from __future__ import annotations

APPLE_GBPS: dict[str, float] = {
    "Apple M1": 68.25, "Apple M1 Pro": 200, "Apple M1 Max": 400, "Apple M1 Ultra": 800,
    "Apple M2": 100, "Apple M2 Pro": 200, "Apple M2 Max": 400, "Apple M2 Ultra": 800,
    "Apple M3": 100, "Apple M3 Pro": 150, "Apple M3 Max": 400, "Apple M3 Ultra": 819,
    "Apple M4": 120, "Apple M4 Pro": 273, "Apple M4 Max": 546,
    "Apple M5": 153,
}


def chip_gbps(chip: str) -> float:
    """GB/s for an exo chip id ("Apple M3 Max"), 0.0 when unknown."""
    name = " ".join((chip or "").split())
    if name in APPLE_GBPS:
        return float(APPLE_GBPS[name])
    low = name.lower()
    for k, v in APPLE_GBPS.items():
        if k.lower() == low:
            return float(v)
    return 0.0
