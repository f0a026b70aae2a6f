# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus text exposition (node_exporter textfile collector) of probe results."""

from __future__ import annotations

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report import natural_key, parse_time

_MS_PER_S = 1000.0
# Nanoseconds, the resolution of the probe's clock; more digits are float noise.
_SECONDS_DIGITS = 9
_RTT_STATS = (("min", "min_rtt_ms"), ("avg", "avg_rtt_ms"), ("max", "max_rtt_ms"), ("median", "median_rtt_ms"),
              ("stddev", "stddev_rtt_ms"), ("jitter", "jitter_ms"), ("last", "last_rtt_ms"),
              ("p50", "p50_rtt_ms"), ("p95", "p95_rtt_ms"), ("p99", "p99_rtt_ms"))


def _epoch_seconds(rfc3339):
    return None if rfc3339 is None else parse_time(rfc3339).timestamp()


def _seconds(milliseconds):
    return None if milliseconds is None else round(milliseconds / _MS_PER_S, _SECONDS_DIGITS)


def _label_value(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name, labels, value):
    rendered = ",".join('%s="%s"' % (key, _label_value(label)) for key, label in labels)
    number = repr(float(value)) if isinstance(value, float) else str(value)
    return "%s{%s} %s" % (name, rendered, number)


# (name, help, value of a pair or of a probe); samples whose value is None are left out.
_PAIR_METRICS = (
    ("nlm_probe_loss_ratio", "Share of ICMP echo requests of the last run without a reply in time (0 to 1).",
     lambda pair: pair["loss"]),
    ("nlm_probe_requests_sent", "ICMP echo requests sent to the target IP in the last run.",
     lambda pair: pair["sent"]),
    ("nlm_probe_replies_received", "ICMP echo replies received in time from the target IP in the last run.",
     lambda pair: pair["received"]),
    ("nlm_probe_success", "1 if the target IP answered at least once in the last run without a probe error, else 0.",
     lambda pair: int(pair["received"] > 0 and not pair["error"])),
    ("nlm_probe_last_send_timestamp_seconds", "Unix time of the last ICMP echo request sent to the target IP.",
     lambda pair: _epoch_seconds(pair["last_send_time"])),
    ("nlm_probe_last_recv_timestamp_seconds", "Unix time of the last ICMP echo reply received from the target IP.",
     lambda pair: _epoch_seconds(pair["last_recv_time"])),
)
_PROBE_METRICS = (
    ("nlm_probe_run_timestamp_seconds", "Unix time at which the last probe run of the source node started.",
     lambda probe: _epoch_seconds(probe["started"])),
    ("nlm_probe_run_duration_seconds", "How long the last probe run of the source node took.",
     lambda probe: probe["duration_seconds"]),
)


def _family_lines(name, help_text, samples):
    lines = ["# HELP %s %s" % (name, help_text), "# TYPE %s gauge" % name]
    return lines + [_sample(name, labels, value) for labels, value in samples if value is not None]


def prometheus_textfile(matrix, node=None):
    """Text exposition of the pairs probed from node (every node if None), ending in a newline."""
    pairs = [pair for pair in matrix["pairs"] if node is None or pair["source"] == node]
    sources = sorted((source for source in matrix["probes"] if node is None or source == node), key=natural_key)

    def pair_labels(pair):
        return (("source_node", pair["source"]), ("target_node", pair["target"]),
                ("target_ip", pair["address"]), ("family", pair["family"] or ""))

    lines = _family_lines(
        "nlm_rtt_seconds",
        "Round-trip time of ICMP echo from the source node to the target IP over the last run, by statistic.",
        [(pair_labels(pair) + (("stat", stat),), _seconds(pair[key])) for pair in pairs for stat, key in _RTT_STATS])
    for name, help_text, value in _PAIR_METRICS:
        lines += _family_lines(name, help_text, [(pair_labels(pair), value(pair)) for pair in pairs])
    # one series per pair, labelled with its verdict: a pair whose verdict changes moves to
    # another series, and the file, rewritten each run, no longer holds the old one
    lines += _family_lines(
        "nlm_probe_verdict",
        "1 for the verdict of the last run on the pair: ok, lossy, blocked here, blocked there, unreachable, "
        "peer down or no reply.",
        [(pair_labels(pair) + (("verdict", pair["verdict"]),), 1) for pair in pairs if "verdict" in pair])
    for name, help_text, value in _PROBE_METRICS:
        lines += _family_lines(name, help_text, [((("source_node", source),), value(matrix["probes"][source]))
                                                 for source in sources])
    return "\n".join(lines) + "\n"
