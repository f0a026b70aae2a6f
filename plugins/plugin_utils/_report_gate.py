# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a pipeline asks of a run: which firewalls to read for the verdicts, whether the
pairs keep an SLO, and what changed since an earlier run."""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report import FAMILIES, ReportError, natural_key
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_verdict import (
    FAILED,
    VERDICT_LOSSY,
    VERDICT_NO_DATA,
    VERDICT_OK,
)

# the SLO's limits: (key, the pair's figure, how it reads)
SLO_LIMITS = (
    ("max_loss", "loss", "loss"),
    ("max_avg_rtt_ms", "avg_rtt_ms", "avg"),
    ("max_p50_rtt_ms", "p50_rtt_ms", "p50"),
    ("max_p95_rtt_ms", "p95_rtt_ms", "p95"),
    ("max_p99_rtt_ms", "p99_rtt_ms", "p99"),
    ("max_rtt_ms", "max_rtt_ms", "max"),
)
# replies a percentile needs before the probe reports it (_probe_stats)
PERCENTILE_REPLIES = {"p50_rtt_ms": 2, "p95_rtt_ms": 20, "p99_rtt_ms": 100}


def verdict_remotes(matrix, own_addresses=None):
    """{node: [address]}: the nodes whose firewalls can explain a pair without any reply, and
    the peer addresses each must judge - as a prober, the addresses it got no reply from;
    as a responder, the addresses of the nodes that got none from it (as the others probed
    them, and ``own_addresses(node)`` besides)."""
    own_addresses = own_addresses or (lambda node: ())
    probed_at = {}
    for pair in matrix["pairs"]:
        if pair["family"] is not None:
            probed_at.setdefault(pair["target"], {}).setdefault(pair["family"], set()).add(pair["address"])
    wanted = {}
    for pair in matrix["pairs"]:
        if pair["family"] is None or not pair["sent"] or pair["received"]:
            continue
        wanted.setdefault(pair["source"], set()).add(pair["address"])
        theirs = set(probed_at.get(pair["source"], {}).get(pair["family"], ()))
        theirs.update(address for address in own_addresses(pair["source"])
                      if (":" in address) == (pair["family"] == "ipv6"))
        wanted.setdefault(pair["target"], set()).update(theirs)
    return dict((node, sorted(addresses)) for node, addresses in sorted(wanted.items(), key=lambda item: natural_key(item[0]))
                if addresses)


def _number(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ReportError("%s must be a number of 0 or more, got %r" % (where, value))
    return float(value)


def slo_limits(slo):
    """{family: {key: limit}} of an SLO: its top-level limits for both families, each
    family's own (``ipv4: {...}``) over them. ReportError says what is wrong."""
    if not isinstance(slo, Mapping):
        raise ReportError("the SLO must be a mapping of limits, got %s" % type(slo).__name__)
    keys = [key for key, _figure, _label in SLO_LIMITS]
    unknown = [str(key) for key in slo if key not in keys and key not in FAMILIES]
    for family in FAMILIES:
        if family in slo:
            if not isinstance(slo[family], Mapping):
                raise ReportError("the SLO's %s must be a mapping of limits, got %r" % (family, slo[family]))
            unknown += ["%s.%s" % (family, key) for key in slo[family] if key not in keys]
    if unknown:
        raise ReportError("unknown SLO limit %s: the limits are %s, at the top for both families or under ipv4 "
                          "or ipv6" % (", ".join(unknown), ", ".join(keys)))
    limits = {}
    for family in FAMILIES:
        merged = dict((key, slo[key]) for key in keys if key in slo)
        merged.update(slo.get(family) or {})
        limits[family] = dict((key, _number(value, key)) for key, value in merged.items())
        if "max_loss" in limits[family] and limits[family]["max_loss"] > 1:
            raise ReportError("max_loss is a ratio from 0 to 1 (0.05 for 5 %%), got %r" % merged["max_loss"])
    return limits


def _figure_text(figure, value):
    if figure == "loss":
        return "%.1f%%" % (value * 100)
    return "%.3g ms" % value


def _pair_name(pair):
    return "%s -> %s %s %s" % (pair["source"], pair["target"], pair["family"], pair["address"])


def slo_violations(matrix, slo):
    """One line per measured pair beyond the SLO: what it exceeds, its verdict and why."""
    limits = slo_limits(slo)
    lines = []
    unmeasured = {}
    for pair in matrix["pairs"]:
        family = pair["family"]
        if family is None or pair["verdict"] == VERDICT_NO_DATA or not limits.get(family):
            continue
        beyond = []
        for key, figure, label in SLO_LIMITS:
            if key not in limits[family]:
                continue
            limit = limits[family][key]
            value = pair[figure]
            if value is None and pair["received"] and figure in PERCENTILE_REPLIES:
                unmeasured.setdefault(key, []).append(_pair_name(pair))
            elif value is None:
                beyond.append("%s unknown (no reply) > %s" % (label, _figure_text(figure, limit)))
            elif value > limit:
                beyond.append("%s %s > %s" % (label, _figure_text(figure, value), _figure_text(figure, limit)))
        if beyond:
            line = "%s: %s; %s" % (_pair_name(pair), ", ".join(beyond), pair["verdict"])
            if pair["reason"] and pair["verdict"] not in (VERDICT_OK, VERDICT_LOSSY):
                line += ": " + pair["reason"]
            lines.append(line)
    if unmeasured:
        key = [limit for limit, _figure, _label in SLO_LIMITS if limit in unmeasured][0]
        figure = dict((limit, figure) for limit, figure, _label in SLO_LIMITS)[key]
        raise ReportError("%s needs at least %d replies per pair, and %s had fewer: probe with a count of %d or "
                          "more (nlm_probe_count)" % (key, PERCENTILE_REPLIES[figure], ", ".join(unmeasured[key][:3]),
                                                      PERCENTILE_REPLIES[figure]))
    return lines


def _cells(matrix):
    """{(source, target, family): cell} of every pair with data."""
    return dict(((cell["source"], cell["target"], cell["family"]), cell)
                for by_source in matrix["matrix"].values() for by_target in by_source.values()
                for cell in by_target.values() if cell["verdict"] != VERDICT_NO_DATA)


def _working(cell):
    return cell["verdict"] in (VERDICT_OK, VERDICT_LOSSY)


def _pair_order(key):
    return natural_key(key[0]), natural_key(key[1]), key[2]


def compare(matrix, previous, rtt_ratio=1.5, rtt_delta_ms=0.1, loss_delta=0.05):
    """What got worse and what got better from ``previous`` to ``matrix``, per pair and family:
    the verdict, the loss (by more than loss_delta) and the average RTT (by rtt_ratio and
    by rtt_delta_ms both); pairs measured only now or only then."""
    now, then = _cells(matrix), _cells(previous)
    worse, better = [], []
    for key in sorted(set(now) & set(then), key=_pair_order):
        cell, old = now[key], then[key]
        name = "%s -> %s %s" % key
        if cell["verdict"] != old["verdict"] and not (_working(cell) and _working(old)):
            line = "%s: %s -> %s" % (name, old["verdict"], cell["verdict"])
            if cell["verdict"] in FAILED and cell["reason"]:
                line += " (%s)" % cell["reason"]
            (better if _working(cell) else worse).append(line)
            continue
        if not (_working(cell) and _working(old)):
            continue
        changes = []
        if abs(cell["loss"] - old["loss"]) > loss_delta:
            changes.append(("loss %.1f%% -> %.1f%%" % (old["loss"] * 100, cell["loss"] * 100), cell["loss"] > old["loss"]))
        low, high = sorted((cell["avg_rtt_ms"], old["avg_rtt_ms"]))
        if high - low >= rtt_delta_ms and high >= low * rtt_ratio:
            changes.append(("avg %.3g -> %.3g ms" % (old["avg_rtt_ms"], cell["avg_rtt_ms"]),
                            cell["avg_rtt_ms"] > old["avg_rtt_ms"]))
        for text, got_worse in changes:
            (worse if got_worse else better).append("%s: %s" % (name, text))
    return {
        "worse": worse,
        "better": better,
        "new": ["%s -> %s %s" % key for key in sorted(set(now) - set(then), key=_pair_order)],
        "gone": ["%s -> %s %s" % key for key in sorted(set(then) - set(now), key=_pair_order)],
    }
