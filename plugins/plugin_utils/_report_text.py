# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain-text latency report for a terminal: per-node summary, matrix, worst pairs."""

from __future__ import annotations

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report import (
    format_ms,
    headline,
    summarize,
    worst_pairs,
)
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_verdict import (
    VERDICT_BLOCKED_HERE,
    VERDICT_BLOCKED_THERE,
    VERDICT_LOSSY,
    VERDICT_NO_DATA,
    VERDICT_NO_REPLY,
    VERDICT_PEER_DOWN,
    VERDICT_UNREACHABLE,
)

# A matrix cell is a value of at most five characters and a one-character flag;
# with a separating space, ten columns and a row label of up to ten characters
# fit 80 columns, and names up to this long can label columns themselves.
_VALUE_WIDTH = 5
_CELL_WIDTH = _VALUE_WIDTH + 1
_MAX_NAME_LABEL = _CELL_WIDTH

# a failed cell shows its verdict in at most five characters
_CELL_TEXT = {VERDICT_BLOCKED_HERE: "here", VERDICT_BLOCKED_THERE: "there", VERDICT_UNREACHABLE: "unrch",
              VERDICT_PEER_DOWN: "down", VERDICT_NO_REPLY: "lost", VERDICT_NO_DATA: "?"}
_LEGEND = ("* some replies lost, lost: no reply, here: blocked here, there: blocked there,\n"
           "unrch: unreachable (an ICMP error), down: peer down, ?: no data, -: itself")


def _duration(value):
    return "-" if value is None else format_ms(value) + "ms"


def _percent(ratio):
    return "-" if ratio is None else "%.1f%%" % (ratio * 100)


def _table(header, rows, right_aligned):
    """Columns as wide as their widest entry, two spaces apart."""
    widths = [max(len(str(line[column])) for line in [header] + rows) for column in range(len(header))]
    lines = []
    for line in [header] + rows:
        cells = [str(value).rjust(width) if column in right_aligned else str(value).ljust(width)
                 for column, (value, width) in enumerate(zip(line, widths))]
        lines.append("  ".join(cells).rstrip())
    return lines


def _summary_lines(summary, numbered):
    header = ["NODE NAME", "ENTRIES", "AVG LATENCY", "MAX LATENCY", "LOSS", "NOTES"]
    rows = [[row["node"], row["entries"] if row["probed"] else "-", _duration(row["avg_rtt_ms"]),
             _duration(row["max_rtt_ms"]), _percent(row["loss"]), row["notes"]] for row in summary]
    right_aligned = {1, 2, 3, 4}
    if numbered:
        header.insert(0, "#")
        for number, row in enumerate(rows, start=1):
            row.insert(0, number)
        right_aligned = {0} | {column + 1 for column in right_aligned}
    return _table(header, rows, right_aligned)


def _cell_text(cell):
    if cell is None:
        return "-".rjust(_VALUE_WIDTH) + " "
    if cell["verdict"] in _CELL_TEXT:
        return _CELL_TEXT[cell["verdict"]].rjust(_VALUE_WIDTH) + " "
    flag = "*" if cell["verdict"] == VERDICT_LOSSY else " "
    return format_ms(cell["avg_rtt_ms"]).rjust(_VALUE_WIDTH) + flag


def _matrix_lines(matrix, family, width, numbered):
    nodes = matrix["nodes"]
    labels = [str(number) for number in range(1, len(nodes) + 1)] if numbered else nodes
    label_width = max(len(label) for label in labels + ["from"])
    per_block = max(1, (width - label_width) // (_CELL_WIDTH + 1))
    by_source = matrix["matrix"][family]
    lines = ["Average RTT in ms, %s (row: from, column: to)" % family]
    for start in range(0, len(nodes), per_block):
        columns = range(start, min(start + per_block, len(nodes)))
        if start:
            lines.append("")
        lines.append(("from".ljust(label_width) + "".join(
            " " + labels[column].rjust(_VALUE_WIDTH).ljust(_CELL_WIDTH) for column in columns)).rstrip())
        for row, source in enumerate(nodes):
            cells = "".join(" " + _cell_text(by_source[source].get(nodes[column])) for column in columns)
            lines.append((labels[row].ljust(label_width) + cells).rstrip())
    return lines


def _pair_line(pair):
    line = "%s -> %s" % (pair["source"], pair["target"])
    if pair["verdict"] == VERDICT_NO_DATA and pair["address"] is None:
        return "%s  %s: no data" % (line, pair["family"])
    line += "  %s  %s  replies %d/%d" % (pair["address"], pair["verdict"], pair["received"], pair["sent"])
    if pair["received"]:
        line += "  avg %s  max %s" % (_duration(pair["avg_rtt_ms"]), _duration(pair["max_rtt_ms"]))
    if pair["reason"] and pair["verdict"] != VERDICT_LOSSY:
        line += "\n      " + pair["reason"]
    return line


def render_table(matrix, width=80, matrix_max_nodes=20, top=5):
    """The report as text lines joined by newlines.

    The matrix is split into blocks of columns that fit width; above
    matrix_max_nodes nodes it is left out (the summary and the worst pairs
    still say where it hurts). When a name is longer than a cell, the matrix
    labels every node with its number from the summary.
    """
    nodes = matrix["nodes"]
    summary = summarize(matrix)
    numbered = any(len(node) > _MAX_NAME_LABEL for node in nodes)
    heading = "Node latency: " + headline(matrix)
    lines = [heading, ""] + _summary_lines(summary, numbered)

    if matrix["families"] and len(nodes) > matrix_max_nodes:
        lines += ["", "Matrix left out: %d nodes is more than %d; the HTML report shows all of it."
                  % (len(nodes), matrix_max_nodes)]
    elif matrix["families"]:
        for family in matrix["families"]:
            lines += [""] + _matrix_lines(matrix, family, width, numbered)
        lines += ["", _LEGEND]

    if matrix.get("patterns"):
        lines += ["", "Patterns:"] + ["  " + pattern["text"] for pattern in matrix["patterns"]]
    ranked = worst_pairs(matrix)[:top]
    if ranked:
        lines += ["", "Worst %d pairs (verdict, loss, then average RTT):" % len(ranked)]
        lines += ["  " + _pair_line(pair) for pair in ranked]
    return "\n".join(lines) + "\n"
