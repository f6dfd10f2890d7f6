"""What the chips exo names can do: memory bandwidth (GB/s) and dense fp16 compute (TFLOPS), with sources.

Decode streams bytes (bandwidth bounds it); prefill multiplies matrices (compute bounds it). The
figures are the vendors' published ones (spec sheets, newsrooms); where a vendor publishes no
compute figure, exo's own CHIP_FLOPS table (exo/topology/device_capabilities.py, fp16) is the source,
as exo reports it in DeviceCapabilities.flops. Names are exo's (legacy exo's CHIP_FLOPS keys, what
`nvidia-smi` / `system_profiler` report), matched case-insensitively.

A measured figure (strategies/measure.py) or one in the cluster file overrides the table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chip:
    gbps: float  # memory bandwidth, GB/s (1e9 B/s)
    tflops: float | None  # dense fp16 TFLOPS (no sparsity); None: use exo's figure for the chip
    source: str


APPLE_2020 = "apple.com/newsroom 2020-11 'Apple unleashes M1' + support.apple.com/kb/SP824 (LPDDR4X-4266: 68.25 GB/s)"
APPLE_2021 = "apple.com/newsroom 2021-10 'Introducing M1 Pro and M1 Max' (200 / 400 GB/s)"
APPLE_2022U = "apple.com/newsroom 2022-03 'Apple unveils M1 Ultra' (800 GB/s)"
APPLE_2022 = "apple.com/newsroom 2022-06 'Apple unveils M2' (100 GB/s)"
APPLE_2023 = "apple.com/newsroom 2023-01 'Apple unveils M2 Pro and M2 Max' (200 / 400 GB/s)"
APPLE_2023U = "apple.com/newsroom 2023-06 'Apple introduces M2 Ultra' (800 GB/s)"
APPLE_M3 = ("apple.com/newsroom 2023-10 'Apple unveils M3, M3 Pro, and M3 Max' "
            "(100 / 150 / 400 GB/s, 300 GB/s binned Max)")
APPLE_M3U = "apple.com/newsroom 2025-03 'Apple reveals M3 Ultra' (819 GB/s)"
APPLE_M4 = "apple.com/newsroom 2024-05 / 2024-10 'Apple introduces M4 Pro and M4 Max' (120 / 273 / 546 GB/s)"
APPLE_M5 = "apple.com/newsroom 2025-10 'Apple unleashes M5' (153 GB/s unified memory bandwidth)"
NV_ADA = "nvidia.com GeForce RTX 40 series spec pages (memory bandwidth)"
NV_AMPERE = "nvidia.com GeForce RTX 30 series spec pages (memory bandwidth)"
NV_TURING = "nvidia.com GeForce RTX 20 / GTX 16 series spec pages (memory bandwidth)"
NV_PASCAL = "nvidia.com GeForce GTX 10 series spec pages (memory bandwidth)"
NV_PRO = "nvidia.com RTX A-series / RTX Ada workstation datasheets (memory bandwidth)"
NV_A100 = "NVIDIA A100 datasheet (nvidia.com/a100): 1,555 / 1,935 / 2,039 GB/s, 312 TFLOPS fp16 dense"
NV_H100 = "NVIDIA H100 datasheet (nvidia.com/h100): SXM 3.35 TB/s 989 TFLOPS, PCIe 2 TB/s 756 TFLOPS fp16 dense"
NV_H200 = "NVIDIA H200 datasheet (nvidia.com/h200): 4.8 TB/s, 989 TFLOPS fp16 dense"
NV_L = "NVIDIA L4 / L40S / A40 datasheets: 300 / 864 / 696 GB/s, 121 / 362 / 150 TFLOPS fp16 dense"
AMD_RDNA = "amd.com Radeon RX 6000 / 7000 product specifications (memory bandwidth)"
DDR = "JEDEC transfer rate x 8 bytes x channels (the platform's published memory configuration)"

CHIPS: dict[str, Chip] = {
    # Apple silicon: bandwidth from Apple; compute from exo's CHIP_FLOPS (Apple publishes none for fp16)
    "Apple M1": Chip(68.25, None, APPLE_2020),
    "Apple M1 Pro": Chip(200, None, APPLE_2021),
    "Apple M1 Max": Chip(400, None, APPLE_2021),
    "Apple M1 Ultra": Chip(800, None, APPLE_2022U),
    "Apple M2": Chip(100, None, APPLE_2022),
    "Apple M2 Pro": Chip(200, None, APPLE_2023),
    "Apple M2 Max": Chip(400, None, APPLE_2023),
    "Apple M2 Ultra": Chip(800, None, APPLE_2023U),
    "Apple M3": Chip(100, None, APPLE_M3),
    "Apple M3 Pro": Chip(150, None, APPLE_M3),
    "Apple M3 Max": Chip(400, None, APPLE_M3),
    "Apple M3 Ultra": Chip(819, None, APPLE_M3U),
    "Apple M4": Chip(120, None, APPLE_M4),
    "Apple M4 Pro": Chip(273, None, APPLE_M4),
    "Apple M4 Max": Chip(546, None, APPLE_M4),
    "Apple M5": Chip(153, None, APPLE_M5),
    # NVIDIA GeForce (exo's names, upper-cased as it writes them)
    "NVIDIA GEFORCE RTX 4090": Chip(1008, None, NV_ADA),
    "NVIDIA GEFORCE RTX 4080 SUPER": Chip(736, None, NV_ADA),
    "NVIDIA GEFORCE RTX 4080": Chip(716.8, None, NV_ADA),
    "NVIDIA GEFORCE RTX 4070 TI SUPER": Chip(672, None, NV_ADA),
    "NVIDIA GEFORCE RTX 4070 TI": Chip(504, None, NV_ADA),
    "NVIDIA GEFORCE RTX 4070 SUPER": Chip(504, None, NV_ADA),
    "NVIDIA GEFORCE RTX 4070": Chip(504, None, NV_ADA),
    "NVIDIA GEFORCE RTX 4060 TI 16GB": Chip(288, None, NV_ADA),
    "NVIDIA GEFORCE RTX 4060 TI": Chip(288, None, NV_ADA),
    "NVIDIA GEFORCE RTX 3090 TI": Chip(1008, None, NV_AMPERE),
    "NVIDIA GEFORCE RTX 3090": Chip(936, None, NV_AMPERE),
    "NVIDIA GEFORCE RTX 3080 TI": Chip(912, None, NV_AMPERE),
    "NVIDIA GEFORCE RTX 3080 (12 GB)": Chip(912, None, NV_AMPERE),
    "NVIDIA GEFORCE RTX 3080 (10 GB)": Chip(760, None, NV_AMPERE),
    "NVIDIA GEFORCE RTX 3070 TI": Chip(608, None, NV_AMPERE),
    "NVIDIA GEFORCE RTX 3070": Chip(448, None, NV_AMPERE),
    "NVIDIA GEFORCE RTX 3060 TI": Chip(448, None, NV_AMPERE),
    "NVIDIA GEFORCE RTX 3060": Chip(360, None, NV_AMPERE),
    "NVIDIA GEFORCE RTX 3050": Chip(224, None, NV_AMPERE),
    "NVIDIA GEFORCE RTX 2080 TI": Chip(616, None, NV_TURING),
    "NVIDIA GEFORCE RTX 2080 SUPER": Chip(496, None, NV_TURING),
    "NVIDIA GEFORCE RTX 2080": Chip(448, None, NV_TURING),
    "NVIDIA GEFORCE RTX 2070 SUPER": Chip(448, None, NV_TURING),
    "NVIDIA GEFORCE RTX 2070": Chip(448, None, NV_TURING),
    "NVIDIA GEFORCE RTX 2060 SUPER": Chip(448, None, NV_TURING),
    "NVIDIA GEFORCE RTX 2060": Chip(336, None, NV_TURING),
    "NVIDIA TITAN RTX": Chip(672, None, NV_TURING),
    "NVIDIA GeForce GTX 1660 TI": Chip(288, None, NV_TURING),
    "NVIDIA GEFORCE GTX 1080 TI": Chip(484, None, NV_PASCAL),
    "NVIDIA GEFORCE GTX 1080": Chip(320, None, NV_PASCAL),
    "NVIDIA GEFORCE GTX 1070": Chip(256, None, NV_PASCAL),
    "NVIDIA GEFORCE GTX 1050 TI": Chip(112, None, NV_PASCAL),
    # NVIDIA workstation and datacenter
    "NVIDIA RTX A2000": Chip(288, None, NV_PRO),
    "NVIDIA RTX A4000": Chip(448, None, NV_PRO),
    "NVIDIA RTX A4500": Chip(640, None, NV_PRO),
    "NVIDIA RTX A5000": Chip(768, None, NV_PRO),
    "NVIDIA RTX A6000": Chip(768, None, NV_PRO),
    "NVIDIA RTX 4000 ADA GENERATION": Chip(360, None, NV_PRO),
    "NVIDIA A40 48GB PCIE": Chip(696, 150, NV_L),
    "NVIDIA A100 40GB PCIE": Chip(1555, 312, NV_A100),
    "NVIDIA A800 40GB PCIE": Chip(1555, 312, NV_A100),
    "NVIDIA A100 80GB PCIE": Chip(1935, 312, NV_A100),
    "NVIDIA A800 80GB PCIE": Chip(1935, 312, NV_A100),
    "NVIDIA A100 80GB SXM": Chip(2039, 312, NV_A100),
    "NVIDIA A800 80GB SXM": Chip(2039, 312, NV_A100),
    "NVIDIA H100": Chip(2000, 756, NV_H100 + "; a bare 'H100' is taken as the PCIe card, the slower"),
    "NVIDIA H100 PCIE": Chip(2000, 756, NV_H100),
    "NVIDIA H100 80GB HBM3": Chip(3350, 989, NV_H100),
    "NVIDIA H200": Chip(4800, 989, NV_H200),
    "NVIDIA L4": Chip(300, 121, NV_L),
    "NVIDIA L40S": Chip(864, 362, NV_L),
    # AMD Radeon
    "AMD Radeon RX 7900 XTX": Chip(960, None, AMD_RDNA),
    "AMD Radeon RX 7900 XT": Chip(800, None, AMD_RDNA),
    "AMD Radeon RX 7800 XT": Chip(624, None, AMD_RDNA),
    "AMD Radeon RX 7700 XT": Chip(432, None, AMD_RDNA),
    "AMD Radeon RX 7600": Chip(288, None, AMD_RDNA),
    "AMD Radeon RX 6900 XT": Chip(512, None, AMD_RDNA),
    "AMD Radeon RX 6800 XT": Chip(512, None, AMD_RDNA),
    "AMD Radeon RX 6800": Chip(512, None, AMD_RDNA),
    "AMD Radeon RX 6700 XT": Chip(384, None, AMD_RDNA),
    "AMD Radeon RX 6700": Chip(320, None, AMD_RDNA),
    "AMD Radeon RX 6600 XT": Chip(256, None, AMD_RDNA),
    "AMD Radeon RX 6600": Chip(224, None, AMD_RDNA),
    "AMD Radeon RX 6500 XT": Chip(144, None, AMD_RDNA),
    "AMD Radeon RX 6400": Chip(128, None, AMD_RDNA),
    # common CPUs (the memory system bounds decode; compute: a measurement, else none)
    "DDR4-3200 dual channel": Chip(51.2, None, DDR),
    "DDR5-4800 dual channel": Chip(76.8, None, DDR),
    "DDR5-5600 dual channel": Chip(89.6, None, DDR),
    "AMD EPYC 9004 (12 x DDR5-4800)": Chip(460.8, None, DDR + "; amd.com EPYC 9004 platform brief"),
    "Intel Xeon 4th gen (8 x DDR5-4800)": Chip(307.2, None, DDR + "; intel.com Sapphire Rapids product brief"),
}

_BY_KEY = {k.lower(): k for k in CHIPS}


def lookup(chip: str) -> tuple[str, Chip] | None:
    """The table's entry for a chip name as exo reports it (case-insensitive), else None."""
    key = _BY_KEY.get((chip or "").strip().lower())
    return (key, CHIPS[key]) if key else None
