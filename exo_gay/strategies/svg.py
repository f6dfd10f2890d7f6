"""The plan as a picture: the ring, one band per node in its own colour, layers shaded by polarity.

A node's colour is color_at(GAY_SEED, fnv1a(node_id)) drawn as RGB (spi.rgb). Within its
band each layer is a slice whose shade says which polarity owns it (layer i: i % 3, as
depth d of a derivation chain is owned by d % 3): MINUS darkest, ERGODIC as is, PLUS lightest.
"""

from __future__ import annotations

import math
from typing import Sequence
from xml.sax.saxutils import escape

from ..spi import GAY_SEED, Polarity, color_at, fnv1a, rgb

SHADE = {Polarity.MINUS: 0.6, Polarity.ERGODIC: 1.0, Polarity.PLUS: 1.4}


def node_rgb(node_id: str) -> tuple[int, int, int]:
    return rgb(color_at(GAY_SEED, fnv1a(node_id)))


def _shade(c: tuple[int, int, int], k: float) -> str:
    if k <= 1.0:
        r, g, b = (int(x * k) for x in c)
    else:  # towards white
        t = k - 1.0
        r, g, b = (int(x + (255 - x) * t) for x in c)
    return f"#{r:02x}{g:02x}{b:02x}"


def _arc(cx: float, cy: float, r0: float, r1: float, a0: float, a1: float) -> str:
    """An annulus slice from angle a0 to a1 (radians, clockwise from 12 o'clock)."""
    def pt(r, a):
        return cx + r * math.sin(a), cy - r * math.cos(a)

    large = 1 if a1 - a0 > math.pi else 0
    (x0, y0), (x1, y1) = pt(r1, a0), pt(r1, a1)
    (x2, y2), (x3, y3) = pt(r0, a1), pt(r0, a0)
    return (f"M{x0:.2f},{y0:.2f} A{r1},{r1} 0 {large} 1 {x1:.2f},{y1:.2f} "
            f"L{x2:.2f},{y2:.2f} A{r0},{r0} 0 {large} 0 {x3:.2f},{y3:.2f} Z")


def ring_svg(title: str, rows: Sequence[tuple[str, int, int, int]], n_layers: int, size: int = 640) -> str:
    """rows: (node_id, polarity, start, end) in ring order; end == start for a node without layers."""
    cx = cy = size / 2
    r1, r0 = size * 0.40, size * 0.28
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size + 40}" '
             f'viewBox="0 0 {size} {size + 40}">',
             f'<title>{escape(title)}</title>',
             f'<text x="{cx}" y="24" text-anchor="middle" font-family="sans-serif" font-size="16">{escape(title)}</text>']
    step = 2 * math.pi / max(1, n_layers)
    for node_id, pol, s, e in rows:
        if e <= s:
            continue
        base = node_rgb(node_id)
        parts.append(f'<g id="node-{escape(node_id)}"><title>{escape(node_id)} ({Polarity(pol).name}): '
                     f'layers {s}-{e - 1}</title>')
        for i in range(s, e):
            fill = _shade(base, SHADE[Polarity(i % 3)])
            parts.append(f'<path d="{_arc(cx, cy + 20, r0, r1, i * step, (i + 1) * step)}" fill="{fill}" '
                         f'stroke="#ffffff" stroke-width="0.5"/>')
        mid = (s + e) / 2 * step
        lx, ly = cx + (r1 + 18) * math.sin(mid), cy + 20 - (r1 + 18) * math.cos(mid)
        anchor = "start" if math.sin(mid) > 0.1 else "end" if math.sin(mid) < -0.1 else "middle"
        parts.append(f'<text x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}" font-family="sans-serif" '
                     f'font-size="11">{escape(node_id)}</text></g>')
    idle = [r[0] for r in rows if r[3] <= r[2]]
    if idle:
        parts.append(f'<text x="{cx}" y="{cy + 20}" text-anchor="middle" font-family="sans-serif" '
                     f'font-size="12">idle: {escape(", ".join(idle))}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
