# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Self-contained HTML page with an SVG heatmap of the latency matrix."""

from __future__ import annotations

import math

from jinja2 import Environment, StrictUndefined

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report import (
    STATUS_DOWN,
    STATUS_ERROR,
    STATUS_LOSSY,
    STATUS_MISSING,
    STATUS_OK,
    format_ms,
    headline,
    summarize,
    worst_pairs,
)
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_verdict import (
    VERDICT_BLOCKED_HERE,
    VERDICT_BLOCKED_THERE,
    VERDICT_NO_DATA,
    VERDICT_PEER_DOWN,
    VERDICT_UNREACHABLE,
)

# Viridis, reversed: short RTTs light yellow, long ones dark purple. It stays
# ordered in grey scale and for colour-blind readers, and holds no red, which
# marks pairs without replies.
_PALETTE = ("#fde725", "#b5de2b", "#6ece58", "#35b779", "#1f9e89",
            "#26828e", "#31688e", "#3e4989", "#482878", "#440154")
# One red for every problem: no reply, lost replies, labels of rows and columns with either.
_RED = "#d7191c"
_ERROR_FILL = "#3b3b3b"
_SELF_FILL = "#f2f2f2"
# Below this RTT the log scale would stretch clock noise over the whole palette.
_SCALE_FLOOR_MS = 0.001
# The scale spans at least this factor, so that 20.2 ms and 20.5 ms on a quiet
# network look alike instead of taking the palette's two ends.
_MIN_SCALE_RATIO = 10.0
_LABEL_CHARS = 20
# Average glyph width of a bold sans-serif font (problem labels are bold) as
# a share of its size, to make room for the labels without measuring them.
_GLYPH_WIDTH = 0.7
_SELF = "self"
# Heatmap side in pixels to aim for, and the cell sizes it may use: 3 nodes get
# large cells with their values written in, 100 nodes still get 8 px cells.
_TARGET_SIDE = 720
_MIN_CELL, _MAX_CELL = 8, 56
_CELL_TEXT_MIN = 40
_MARK_MIN = 12
_LEGEND_TICKS = 5
_LEGEND_WIDTH = 320
# Room for half a tick label beyond each end of the colour bar.
_LEGEND_PAD = 30

# Written into cells large enough; a cell without reply gets a white cross instead.
# a failed cell names its verdict; "no reply" gets the white cross of a red cell instead
_CELL_TEXT = {VERDICT_BLOCKED_HERE: "here", VERDICT_BLOCKED_THERE: "there", VERDICT_UNREACHABLE: "unrch",
              VERDICT_PEER_DOWN: "down", VERDICT_NO_DATA: "?"}
_STATUS_TEXT = {
    STATUS_OK: "all replies",
    STATUS_LOSSY: "some replies lost",
    STATUS_DOWN: "no reply",
    STATUS_ERROR: "probe error",
    STATUS_MISSING: "no data",
}

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1a1a1a; }
h1 { font-size: 1.4em; margin: 0 0 .3em; }
h2 { font-size: 1.15em; margin: 1.5em 0 .5em; }
p.meta { color: #555; margin: 0 0 1em; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #ddd; padding: .2em .6em; text-align: left; white-space: nowrap; }
td.num, th.num { text-align: right; }
tr.status-lossy td { background: #fff4e5; }
tr.status-down td, tr.status-error td { background: #fde8e8; }
tr.status-missing td { color: #777; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font-family: system-ui, sans-serif; }
svg text.problem { fill: {{ red }}; font-weight: bold; }
#pair-details { font-size: 12px; }
div.scroll { overflow-x: auto; }
details summary { cursor: pointer; font-weight: 600; margin: 1em 0 .5em; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
<p class="meta">{{ meta }}</p>


{% if heatmaps %}
<svg id="legend" xmlns="http://www.w3.org/2000/svg" width="{{ legend.width }}" height="{{ legend.height }}"
 viewBox="0 0 {{ legend.width }} {{ legend.height }}" role="img" aria-label="Colour scale and marks">
<defs>
<linearGradient id="scale">
{% for stop in legend.stops %}
<stop offset="{{ stop.offset }}" stop-color="{{ stop.colour }}"/>
{% endfor %}
</linearGradient>
<pattern id="nodata-legend" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
<rect width="6" height="6" fill="#e6e6e6"/><line x1="0" y1="0" x2="0" y2="6" stroke="#9a9a9a" stroke-width="2"/>
</pattern>
</defs>
<text x="{{ legend.pad }}" y="12" font-size="12">Average RTT ({{ legend.scale }} scale)</text>
<rect x="{{ legend.pad }}" y="20" width="{{ legend.bar }}" height="16" fill="url(#scale)" stroke="#888"/>
{% for tick in legend.ticks %}
<line x1="{{ tick.x }}" y1="36" x2="{{ tick.x }}" y2="41" stroke="#444"/>
<text class="tick" x="{{ tick.x }}" y="53" font-size="11" text-anchor="middle">{{ tick.text }}</text>
{% endfor %}
{% for mark in legend.marks %}
<g class="legend-mark" data-status="{{ mark.status }}">
<rect x="{{ mark.x }}" y="20" width="16" height="16" fill="{{ mark.fill }}"
 {%- if mark.stroke %} stroke="{{ mark.stroke }}" stroke-width="3"{% endif %}/>
<text x="{{ mark.x + 22 }}" y="32" font-size="12">{{ mark.text }}</text>
</g>
{% endfor %}
</svg>
{% endif %}

{% for heatmap in heatmaps %}
<h2>Average RTT, {{ heatmap.family }} (row: from, column: to)</h2>
<svg class="heatmap" data-family="{{ heatmap.family }}" xmlns="http://www.w3.org/2000/svg"
 width="{{ heatmap.width }}" height="{{ heatmap.height }}" viewBox="0 0 {{ heatmap.width }} {{ heatmap.height }}"
 role="img" aria-label="Average RTT heatmap, {{ heatmap.family }}">
<defs>
<pattern id="nodata-{{ heatmap.family }}" width="6" height="6" patternUnits="userSpaceOnUse"
 patternTransform="rotate(45)">
<rect width="6" height="6" fill="#e6e6e6"/><line x1="0" y1="0" x2="0" y2="6" stroke="#9a9a9a" stroke-width="2"/>
</pattern>
</defs>
{% for label in heatmap.row_labels %}
<text class="row-label{% if label.problem %} problem{% endif %}" x="{{ label.x }}" y="{{ label.y }}" font-size="{{ heatmap.font }}"
 text-anchor="end" dominant-baseline="central"><title>{{ label.name }}</title>{{ label.text }}</text>
{% endfor %}
{% for label in heatmap.column_labels %}
<text class="column-label{% if label.problem %} problem{% endif %}" x="{{ label.x }}" y="{{ label.y }}" font-size="{{ heatmap.font }}"
 transform="rotate(-90 {{ label.x }} {{ label.y }})" dominant-baseline="central"><title>{{ label.name }}</title>{{ label.text }}</text>
{% endfor %}
{% for cell in heatmap.cells %}
<g class="cell" data-source="{{ cell.source }}" data-target="{{ cell.target }}" data-status="{{ cell.status }}"
{%- if cell.verdict %} data-verdict="{{ cell.verdict }}"{% endif %}
{%- if cell.avg is not none %} data-avg-rtt-ms="{{ cell.avg }}"{% endif %}><title>{{ cell.tooltip }}</title>
<rect x="{{ cell.x }}" y="{{ cell.y }}" width="{{ heatmap.cell }}" height="{{ heatmap.cell }}" fill="{{ cell.fill }}"/>
{% if cell.status == "lossy" %}
<rect x="{{ cell.x + heatmap.inset }}" y="{{ cell.y + heatmap.inset }}" width="{{ heatmap.frame }}"
 height="{{ heatmap.frame }}" fill="none" stroke="{{ red }}" stroke-width="{{ heatmap.stroke }}"/>
{% elif cell.status == "down" and heatmap.marks %}
<path d="M{{ cell.x + heatmap.quarter }} {{ cell.y + heatmap.quarter }}{{ heatmap.cross }}" stroke="#fff"
 stroke-width="{{ heatmap.stroke }}"/>
{% endif %}
{% if cell.text %}
<text x="{{ cell.x + heatmap.cell // 2 }}" y="{{ cell.y + heatmap.cell // 2 }}" font-size="{{ heatmap.font }}"
 text-anchor="middle" dominant-baseline="central" fill="{{ cell.text_fill }}">{{ cell.text }}</text>
{% endif %}
</g>
{% endfor %}
</svg>
{% endfor %}


<h2>Per node</h2>
<table id="summary">
<thead><tr><th>Node</th><th class="num">Entries</th><th class="num">Avg latency</th><th class="num">Max latency</th>
<th class="num">Loss</th><th>Notes</th></tr></thead>
<tbody>
{% for row in summary %}
<tr data-node="{{ row.node }}"><td>{{ row.node }}</td><td class="num">{{ row.entries }}</td>
<td class="num">{{ row.avg }}</td><td class="num">{{ row.max }}</td><td class="num">{{ row.loss }}</td>
<td>{{ row.notes }}</td></tr>
{% endfor %}
</tbody>
</table>

{% if patterns %}
<h2>Patterns</h2>
<ul id="patterns">
{% for pattern in patterns %}
<li data-kind="{{ pattern.kind }}" data-family="{{ pattern.family }}">{{ pattern.text }}</li>
{% endfor %}
</ul>
{% endif %}

<details id="pairs" open>
<summary>{% if pairs | length < pair_count %}The {{ pairs | length }} worst of {{ pair_count }} pairs{% else %}Every pair{% endif %}, worst first</summary>
{% if pairs | length < pair_count %}
<p class="meta">The heatmap tooltips and the NodeLatencyStats JSON report have the other pairs.</p>
{% endif %}
<div class="scroll">
<table id="pair-details">
<thead><tr><th>From</th><th>To</th><th>Family</th><th>Target IP</th><th>Verdict</th><th class="num">Sent</th>
<th class="num">Received</th><th class="num">Loss</th><th class="num">Min ms</th><th class="num">Avg ms</th>
<th class="num">Max ms</th><th class="num">Stddev ms</th><th class="num">Jitter ms</th><th>Last send</th>
<th>Last reply</th><th>Error</th><th>Why</th></tr></thead>
<tbody>
{% for pair in pairs %}
<tr class="status-{{ pair.status }}" data-verdict="{{ pair.verdict }}"><td>{{ pair.source }}</td><td>{{ pair.target }}</td><td>{{ pair.family }}</td>
<td>{{ pair.address }}</td><td>{{ pair.status_text }}</td><td class="num">{{ pair.sent }}</td>
<td class="num">{{ pair.received }}</td><td class="num">{{ pair.loss }}</td><td class="num">{{ pair.min }}</td>
<td class="num">{{ pair.avg }}</td><td class="num">{{ pair.max }}</td><td class="num">{{ pair.stddev }}</td>
<td class="num">{{ pair.jitter }}</td><td>{{ pair.last_send }}</td><td>{{ pair.last_recv }}</td>
<td>{{ pair.error }}</td><td>{{ pair.reason }}</td></tr>
{% endfor %}
</tbody>
</table>
</div>
</details>
</body>
</html>
"""


def _hex_rgb(colour):
    return tuple(int(colour[index:index + 2], 16) for index in (1, 3, 5))


def palette_colour(position):
    """Colour at position 0..1 of the palette, interpolated between its anchors."""
    scaled = min(max(position, 0.0), 1.0) * (len(_PALETTE) - 1)
    index = min(int(scaled), len(_PALETTE) - 2)
    low, high = _hex_rgb(_PALETTE[index]), _hex_rgb(_PALETTE[index + 1])
    fraction = scaled - index
    return "#%02x%02x%02x" % tuple(round(a + (b - a) * fraction) for a, b in zip(low, high))


class LogScale:
    """Maps RTTs onto 0..1 logarithmically, so 0.1 ms and 50 ms are both told apart."""

    def __init__(self, values_ms):
        # Without a single reply there is nothing to scale; any range will do.
        floored = [max(value, _SCALE_FLOOR_MS) for value in values_ms] or [1.0]
        self.low, self.high = min(floored), max(floored)
        if self.high / self.low < _MIN_SCALE_RATIO:
            centre = math.sqrt(self.low * self.high)
            self.low, self.high = centre / math.sqrt(_MIN_SCALE_RATIO), centre * math.sqrt(_MIN_SCALE_RATIO)
        self._span = math.log(self.high / self.low)

    def position(self, value_ms):
        return math.log(max(value_ms, _SCALE_FLOOR_MS) / self.low) / self._span

    def value(self, position):
        return self.low * math.exp(self._span * position)


def _ms_text(value):
    return "" if value is None else format_ms(value)


def _percent_text(ratio):
    return "" if ratio is None else "%.1f%%" % (ratio * 100)


def _truncate(name):
    return name if len(name) <= _LABEL_CHARS else name[:_LABEL_CHARS - 1] + "\u2026"


def _tooltip(cell):
    """One line per fact about the pair: the browser shows it on hover."""
    lines = ["%s \u2192 %s, %s %s: %s" % (
        cell["source"], cell["target"], cell["family"], cell["address"] or "", cell["verdict"])]
    if cell["reason"] and cell["received"] == 0:
        lines.append(cell["reason"])
    if cell["avg_rtt_ms"] is not None:
        lines.append("avg %s ms (min %s, max %s, jitter %s)" % tuple(
            _ms_text(cell[key]) or "-" for key in ("avg_rtt_ms", "min_rtt_ms", "max_rtt_ms", "jitter_ms")))
    if cell["status"] != STATUS_MISSING:
        lines.append("%d of %d replies, loss %s" % (cell["received"], cell["sent"], _percent_text(cell["loss"])))
    if cell["error"]:
        lines.append("error: %s" % cell["error"])
    return "\n".join(lines)


def _fill(cell, scale, family):
    if cell["status"] in (STATUS_OK, STATUS_LOSSY):
        return palette_colour(scale.position(cell["avg_rtt_ms"]))
    return {STATUS_DOWN: _RED, STATUS_ERROR: _ERROR_FILL}.get(cell["status"], "url(#nodata-%s)" % family)


def _heatmap(matrix, family, scale):
    nodes = matrix["nodes"]
    cell_size = max(_MIN_CELL, min(_MAX_CELL, _TARGET_SIDE // len(nodes)))
    font = max(7, min(12, cell_size - 2))
    label_px = int(max(len(_truncate(node)) for node in nodes) * font * _GLYPH_WIDTH) + 8
    grid = label_px + 4
    side = grid + cell_size * len(nodes) + 4
    cells = []
    for row, source in enumerate(nodes):
        for column, target in enumerate(nodes):
            x, y = grid + column * cell_size, grid + row * cell_size
            if source == target:
                cells.append({"source": source, "target": target, "status": _SELF, "verdict": None, "avg": None,
                              "x": x, "y": y, "fill": _SELF_FILL, "text": "", "text_fill": "",
                              "tooltip": "%s (itself, not measured)" % source})
                continue
            pair = matrix["matrix"][family][source][target]
            answered = pair["avg_rtt_ms"] is not None
            cells.append({
                "source": source, "target": target, "status": pair["status"], "verdict": pair["verdict"],
                "avg": pair["avg_rtt_ms"], "x": x, "y": y, "fill": _fill(pair, scale, family),
                "text": (_ms_text(pair["avg_rtt_ms"]) if answered else _CELL_TEXT.get(pair["verdict"], ""))
                if cell_size >= _CELL_TEXT_MIN else "",
                # Light text where the palette turns dark, and on the error fill.
                "text_fill": "#000000" if answered and scale.position(pair["avg_rtt_ms"]) < 0.55
                or pair["status"] == STATUS_MISSING else "#ffffff",
                "tooltip": _tooltip(pair),
            })
    middle = cell_size / 2
    # Red labels lead the eye to the rows and columns with problems, which at
    # 8 px a cell are easy to miss. A source without data is its own row's
    # problem, not every column's.
    problem_sources = {cell["source"] for cell in cells if cell["status"] not in (_SELF, STATUS_OK)}
    problem_targets = {cell["target"] for cell in cells if cell["status"] in (STATUS_LOSSY, STATUS_DOWN, STATUS_ERROR)}
    stroke = max(1.5, round(cell_size / 10, 1))
    half = cell_size // 2
    return {
        "family": family,
        "cell": cell_size,
        "font": font,
        "stroke": stroke,
        # The lossy frame is drawn inside the cell, so that it does not cover the neighbours.
        "inset": stroke / 2,
        "frame": cell_size - stroke,
        # A cross over the middle half of the cell, relative to its top left quarter point.
        "quarter": cell_size // 4,
        "cross": "l%d %dm0 -%dl-%d %d" % (half, half, half, half, half),
        "marks": cell_size >= _MARK_MIN,
        "width": side,
        "height": side,
        "row_labels": [{"name": node, "text": _truncate(node), "x": grid - 4, "y": grid + index * cell_size + middle,
                        "problem": node in problem_sources} for index, node in enumerate(nodes)],
        "column_labels": [{"name": node, "text": _truncate(node), "x": grid + index * cell_size + middle,
                           "y": grid - 4, "problem": node in problem_targets} for index, node in enumerate(nodes)],
        "cells": cells,
    }


def _legend(scale):
    stops = [{"offset": "%.3f" % (index / (len(_PALETTE) - 1)), "colour": colour}
             for index, colour in enumerate(_PALETTE)]
    ticks = [{"x": _LEGEND_PAD + round(_LEGEND_WIDTH * index / (_LEGEND_TICKS - 1), 1),
              "text": format_ms(scale.value(index / (_LEGEND_TICKS - 1))) + " ms"}
             for index in range(_LEGEND_TICKS)]
    marks = []
    x = _LEGEND_PAD * 2 + _LEGEND_WIDTH + 10
    for status, fill, stroke in ((STATUS_LOSSY, palette_colour(0.0), _RED),
                                 (STATUS_DOWN, _RED, None),
                                 (STATUS_ERROR, _ERROR_FILL, None),
                                 (STATUS_MISSING, "url(#nodata-legend)", None)):
        marks.append({"status": status, "fill": fill, "stroke": stroke, "x": x, "text": _STATUS_TEXT[status]})
        x += 40 + 7 * len(_STATUS_TEXT[status])
    return {"width": x, "height": 60, "bar": _LEGEND_WIDTH, "pad": _LEGEND_PAD, "stops": stops, "ticks": ticks,
            "marks": marks, "scale": "logarithmic"}


def _pair_row(pair):
    return {
        "source": pair["source"], "target": pair["target"], "family": pair["family"] or "",
        "address": pair["address"] or "", "status": pair["status"], "verdict": pair["verdict"],
        "status_text": pair["verdict"], "reason": pair["reason"] or "",
        "sent": pair["sent"] if pair["status"] != STATUS_MISSING else "",
        "received": pair["received"] if pair["status"] != STATUS_MISSING else "",
        "loss": _percent_text(pair["loss"]),
        "min": _ms_text(pair["min_rtt_ms"]), "avg": _ms_text(pair["avg_rtt_ms"]),
        "max": _ms_text(pair["max_rtt_ms"]), "stddev": _ms_text(pair["stddev_rtt_ms"]),
        "jitter": _ms_text(pair["jitter_ms"]),
        "last_send": pair["last_send_time"] or "", "last_recv": pair["last_recv_time"] or "",
        "error": pair["error"] or "",
    }


def _summary_row(row):
    return {
        "node": row["node"], "entries": row["entries"] if row["probed"] else "",
        "avg": _ms_text(row["avg_rtt_ms"]) + " ms" if row["avg_rtt_ms"] is not None else "",
        "max": _ms_text(row["max_rtt_ms"]) + " ms" if row["max_rtt_ms"] is not None else "",
        "loss": _percent_text(row["loss"]),
        "notes": row["notes"],
    }


def render_html(matrix, title="Node latency", details_rows=200):
    """The page as one string: inline CSS and SVG, no script, nothing fetched.

    The details table lists the worst details_rows pairs: at 100 nodes a row
    for each of the 9900 pairs would bury the ones that matter.
    """
    scale = LogScale([pair["avg_rtt_ms"] for pair in matrix["pairs"] if pair["avg_rtt_ms"] is not None])
    ranked = worst_pairs(matrix)
    environment = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return environment.from_string(_TEMPLATE).render(
        title=title,
        meta=headline(matrix),
        summary=[_summary_row(row) for row in summarize(matrix)],
        heatmaps=[_heatmap(matrix, family, scale) for family in matrix["families"]],
        legend=_legend(scale),
        red=_RED,
        patterns=matrix.get("patterns") or [],
        pairs=[_pair_row(pair) for pair in ranked[:details_rows]],
        pair_count=len(ranked),
    )
