"""Plans as a picture: one ring per plan side by side, one band per node in its own color, a legend.

Node colors come from a fixed palette by the node's place among the cluster's node ids (sorted), so no
two nodes share a color and a node has the same color in every ring. Layers run clockwise from 12
o'clock (a black mark). A layer is shaded by the term that dominates the bytes it streams per token
(attention + KV: MINUS darker, norms: ERGODIC as is, FFN: PLUS lighter) only when that differs between
layers; otherwise the legend says which term every layer has. Each node's label gives its layers, its
bounding term and ms per token; the legend draws each node's memory used against its budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence
from xml.sax.saxutils import escape

SHADE = {"MINUS": 0.6, "ERGODIC": 1.0, "PLUS": 1.4}
PART_OF = {"MINUS": "attention + KV cache", "ERGODIC": "norms + hops", "PLUS": "FFN (+ head)"}
# Paul Tol's "bright" + "muted" qualitative schemes: distinct to most eyes, also in print
PALETTE = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb", "#332288",
           "#88ccee", "#44aa99", "#117733", "#999933", "#ddcc77", "#cc6677", "#882255", "#aa4499")
MIN_BAND = math.radians(2.0)  # a one-layer node's outer band is drawn at least this wide
FONT = 'font-family="sans-serif"'
LABEL_PX = 12  # node labels' font size; labels on one side stay at least this far apart
RING_W = 860  # width given to one ring: room for labels of about 38 characters either side
TOP = 70  # above the rings: the title and each ring's heading
RING_H = 480


@dataclass
class Band:
    """One node in one plan: layers [start, end) (end == start: no layers), and a note (e.g. OUT OF MEMORY)."""
    node_id: str
    bound: str  # the term bounding the node on this model: MINUS, ERGODIC, PLUS ("" without layers)
    start: int
    end: int
    note: str = ""
    used_gb: float = 0.0
    budget_gb: float = 0.0
    ms_per_token: float = 0.0


def node_colors(node_ids: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    """A distinct color per node: the palette in the order of the sorted ids, then golden-angle hues."""
    out = {}
    for k, node_id in enumerate(sorted(set(node_ids))):
        if k < len(PALETTE):
            h = PALETTE[k]
            out[node_id] = (int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16))
        else:
            import colorsys

            r, g, b = colorsys.hls_to_rgb(((k - len(PALETTE)) * 0.381966) % 1.0, 0.35 + 0.3 * (k % 3) / 2, 0.65)
            out[node_id] = (int(r * 255), int(g * 255), int(b * 255))
    return out


def _shade(c: tuple[int, int, int], k: float) -> str:
    if k <= 1.0:
        r, g, b = (int(x * k) for x in c)
    else:  # towards white
        t = k - 1.0
        r, g, b = (int(x + (255 - x) * t) for x in c)
    return f"#{r:02x}{g:02x}{b:02x}"


def _pt(cx: float, cy: float, r: float, a: float) -> tuple[float, float]:
    """The point at radius r and angle a (radians, clockwise from 12 o'clock)."""
    return cx + r * math.sin(a), cy - r * math.cos(a)


def _arc(cx: float, cy: float, r0: float, r1: float, a0: float, a1: float) -> str:
    """An annulus slice from angle a0 to a1."""
    large = 1 if a1 - a0 > math.pi else 0
    (x0, y0), (x1, y1) = _pt(cx, cy, r1, a0), _pt(cx, cy, r1, a1)
    (x2, y2), (x3, y3) = _pt(cx, cy, r0, a1), _pt(cx, cy, r0, a0)
    return (f"M{x0:.2f},{y0:.2f} A{r1},{r1} 0 {large} 1 {x1:.2f},{y1:.2f} "
            f"L{x2:.2f},{y2:.2f} A{r0},{r0} 0 {large} 0 {x3:.2f},{y3:.2f} Z")


def _tick_step(n_layers: int) -> int:
    """Number every k-th layer, k in 1, 2, 5, 10, 20, ... so that at most 16 numbers show."""
    k = 1
    while n_layers / k > 16:
        k = k * 2 if str(k)[0] in "15" else k * 5 // 2
    return k


def _spread(ys: list[float], gap: float, lo: float, hi: float) -> list[float]:
    """Sorted label heights pushed apart to at least ``gap``, kept within [lo, hi] where room allows."""
    out = list(ys)
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1] + gap)
    if out and out[-1] > hi:
        out[-1] = hi
        for i in range(len(out) - 2, -1, -1):
            out[i] = min(out[i], out[i + 1] - gap)
    if out and out[0] < lo:  # no room either way: keep the gap, let the column run past hi
        out[0] = lo
        for i in range(1, len(out)):
            out[i] = max(out[i], out[i - 1] + gap)
    return out


def _ring(x0: float, heading: str, bands: Sequence[Band], n_layers: int, colors: dict,
          layer_terms: Sequence[str] | None) -> list[str]:
    cx, cy = x0 + RING_W / 2, TOP + RING_H / 2
    r1, r0 = 140.0, 98.0
    step = 2 * math.pi / max(1, n_layers)
    parts = [f'<g class="plan"><text class="heading" x="{cx:.1f}" y="{TOP - 12}" text-anchor="middle" {FONT} '
             f'font-size="14" font-weight="bold">{escape(heading)}</text>']
    labels = []  # (side, desired y, anchor angle, text)
    for b in bands:
        if b.end <= b.start:
            continue
        base = colors[b.node_id]
        parts.append(f'<g class="node" id="{escape(_slug(heading))}-{escape(_slug(b.node_id))}"><title>'
                     f'{escape(b.node_id)} (bound by {b.bound}): layers {b.start}-{b.end - 1}</title>')
        for i in range(b.start, b.end):
            term = layer_terms[i] if layer_terms else "ERGODIC"
            d = _arc(cx, cy, r0, r1, i * step, (i + 1) * step)
            what = f": most of its bytes are {PART_OF[term]}" if layer_terms else ""
            parts.append(f'<path d="{d}" fill="{_shade(base, SHADE[term])}" '
                         f'stroke="#ffffff" stroke-width="0.5"><title>layer {i}{what}</title></path>')
        # the node's own color as a thin outer band, edged where its layers begin and end; at least
        # MIN_BAND wide, so that a one-layer node stays visible among 100+ layers
        a0, a1 = b.start * step, b.end * step
        if a1 - a0 < MIN_BAND:
            mid0 = (a0 + a1) / 2
            a0, a1 = mid0 - MIN_BAND / 2, mid0 + MIN_BAND / 2
        parts.append(f'<path class="node-band" d="{_arc(cx, cy, r1 + 3, r1 + 12, a0, a1)}" '
                     f'fill="{_shade(base, 1.0)}" stroke="#333333" stroke-width="0.8"/>')
        parts.append("</g>")
        mid = (b.start + b.end) / 2 * step
        text = f"{b.node_id}: {b.start}-{b.end - 1}" if b.end - b.start > 1 else f"{b.node_id}: {b.start}"
        text += f", {b.ms_per_token:.1f} ms, {b.bound}"
        if b.note:
            text += f" {b.note}"
        side = 1 if math.sin(mid) >= 0 else -1
        labels.append((side, _pt(cx, cy, r1 + 30, mid)[1], mid, text))
    for side in (1, -1):
        mine = sorted((lab for lab in labels if lab[0] == side), key=lambda lab: lab[1])
        ys = _spread([lab[1] for lab in mine], LABEL_PX + 3, TOP + 6, TOP + RING_H - 6)
        for (_, _, mid, text), y in zip(mine, ys, strict=True):
            ax, ay = _pt(cx, cy, r1 + 10, mid)
            lx = cx + side * (r1 + 36)
            anchor = "start" if side > 0 else "end"
            parts.append(f'<polyline points="{ax:.1f},{ay:.1f} {lx - side * 4:.1f},{y - 4:.1f} {lx:.1f},{y - 4:.1f}" '
                         f'fill="none" stroke="#888888" stroke-width="0.8"/>')
            parts.append(f'<text class="node-label" x="{lx:.1f}" y="{y:.1f}" text-anchor="{anchor}" {FONT} '
                         f'font-size="{LABEL_PX}">{escape(text)}</text>')
    k = _tick_step(n_layers)
    for i in range(0, n_layers, k):
        x, y = _pt(cx, cy, r0 - 12, (i + 0.5) * step)
        parts.append(f'<text class="layer-number" x="{x:.1f}" y="{y + 3:.1f}" text-anchor="middle" {FONT} '
                     f'font-size="9" fill="#444444">{i}</text>')
    (mx0, my0), (mx1, my1) = _pt(cx, cy, r0 - 4, 0.0), _pt(cx, cy, r1 + 10, 0.0)
    parts.append(f'<line class="layer-0" x1="{mx0:.1f}" y1="{my0:.1f}" x2="{mx1:.1f}" y2="{my1:.1f}" '
                 f'stroke="#000000" stroke-width="2.5"/>')
    for dy, line in ((-12, "layers run"), (0, "clockwise from"), (12, "the black mark")):
        parts.append(f'<text x="{cx:.1f}" y="{cy + dy + 4:.1f}" text-anchor="middle" {FONT} font-size="10">'
                     f'{line}</text>')
    idle = [b.node_id + (f" {b.note}" if b.note else "") for b in bands if b.end <= b.start]
    if idle:
        parts.append(f'<text x="{cx:.1f}" y="{cy + r1 + 40:.1f}" text-anchor="middle" {FONT} font-size="11">'
                     f'no layers: {escape(", ".join(idle))}</text>')
    parts.append("</g>")
    return parts


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)


def _legend(y: float, width: float, bands: dict[str, list[tuple[str, Band]]], colors: dict,
            layer_terms: Sequence[str] | None) -> tuple[list[str], float]:
    parts = ['<g class="legend">', f'<text x="20" y="{y:.1f}" {FONT} font-size="13" font-weight="bold">legend</text>']
    y += 20
    grey = (128, 128, 128)
    if layer_terms:
        for j, term in enumerate(("MINUS", "ERGODIC", "PLUS")):
            x = 20 + j * (width - 40) / 3
            word = {"MINUS": "darker", "ERGODIC": "as is", "PLUS": "lighter"}[term]
            n = sum(1 for t in layer_terms if t == term)
            parts.append(f'<rect x="{x:.1f}" y="{y - 11:.1f}" width="14" height="14" '
                         f'fill="{_shade(grey, SHADE[term])}"/>')
            parts.append(f'<text x="{x + 20:.1f}" y="{y:.1f}" {FONT} font-size="12">{word}: {term}, most bytes '
                         f'{PART_OF[term]} ({n} layers)</text>')
        y += 18
        shade_note = "A slice is one layer, shaded by the term that dominates the bytes it streams per token."
    else:
        shade_note = "A slice is one layer; every layer streams mostly the same term here, so none is shaded."
    parts.append(f'<text x="20" y="{y:.1f}" {FONT} font-size="11" fill="#444444">{escape(shade_note)} Its color '
                 f'is the node holding it (a palette by sorted node id: no two nodes alike).</text>')
    y += 16
    parts.append(f'<text x="20" y="{y:.1f}" {FONT} font-size="11" fill="#444444">Layer 0 starts at the black mark '
                 f'at 12 o\'clock; layers run clockwise. A label: layers, decode ms per token, the term bounding '
                 f'the node (MINUS attention + KV, ERGODIC norms + hops, PLUS FFN). Bars: memory used / budget.</text>')
    y += 24
    bar_w = 120.0
    for node_id, seen in bands.items():
        parts.append(f'<rect x="20" y="{y - 11:.1f}" width="14" height="14" fill="{_shade(colors[node_id], 1.0)}"/>')
        parts.append(f'<text x="40" y="{y:.1f}" {FONT} font-size="12" font-weight="bold">{escape(node_id)}</text>')
        x = 200.0
        for heading, b in seen:
            share = b.used_gb / b.budget_gb if b.budget_gb > 0 else (1.0 if b.used_gb > 0 else 0.0)
            fill = "#cc3311" if share > 1.0 else "#555555"
            parts.append(f'<rect class="budget" x="{x:.1f}" y="{y - 10:.1f}" width="{bar_w:.1f}" height="12" '
                         f'fill="none" stroke="#888888"/>')
            parts.append(f'<rect class="used" x="{x:.1f}" y="{y - 10:.1f}" width="{bar_w * min(share, 1.0):.1f}" '
                         f'height="12" fill="{fill}"/>')
            where = (f"layers {b.start}-{b.end - 1}" if b.end - b.start > 1 else f"layer {b.start}" if b.end > b.start
                     else "no layers")
            parts.append(f'<text x="{x + bar_w + 6:.1f}" y="{y:.1f}" {FONT} font-size="11">{escape(heading)}: '
                         f'{escape(where)}, {b.used_gb:.2f}/{b.budget_gb:.2f} GB'
                         f'{escape(" " + b.note if b.note else "")}</text>')
            x += (width - 200) / max(1, len(seen))
        y += 18
    parts.append("</g>")
    return parts, y + 16


def plans_svg(title: str, plans: Sequence[tuple[str, Sequence[Band]]], n_layers: int,
              node_ids: Sequence[str] = (), layer_terms: Sequence[str] | None = None) -> str:
    """Each plan as (heading, its bands in ring order), drawn side by side with one legend.

    layer_terms: per layer, the term dominating its streamed bytes; shading is drawn only if they differ.
    """
    ids = list(node_ids) or [b.node_id for _, bands in plans for b in bands]
    colors = node_colors(ids)
    if layer_terms is not None and len(set(layer_terms)) <= 1:
        layer_terms = None
    width = RING_W * max(1, len(plans))
    body = []
    for j, (heading, bands) in enumerate(plans):
        body += _ring(j * RING_W, heading, bands, n_layers, colors, layer_terms)
    seen: dict[str, list[tuple[str, Band]]] = {}
    for heading, bands in plans:
        for b in bands:
            seen.setdefault(b.node_id, []).append((heading.split(":")[0], b))
    legend, height = _legend(TOP + RING_H + 24, width, seen, colors, layer_terms)
    head = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" '
            f'viewBox="0 0 {width} {height:.0f}">', f'<title>{escape(title)}</title>',
            f'<rect width="{width}" height="{height:.0f}" fill="#ffffff"/>',
            f'<text x="{width / 2:.1f}" y="24" text-anchor="middle" {FONT} font-size="16">{escape(title)}</text>']
    return "\n".join(head + body + legend + ["</svg>"]) + "\n"
