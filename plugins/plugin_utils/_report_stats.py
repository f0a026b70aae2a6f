# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NodeLatencyStats documents in the shape of Antrea's stats.antrea.io/v1alpha1 API."""

from __future__ import annotations

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report import natural_key

API_VERSION = "stats.antrea.io/v1alpha1"
_NS_PER_MS = 1_000_000


def _nanoseconds(milliseconds):
    return None if milliseconds is None else int(round(milliseconds * _NS_PER_MS))


def _target_stats(pair):
    stats = {
        "targetIP": pair["address"],
        "lastSendTime": pair["last_send_time"],
        "lastRecvTime": pair["last_recv_time"],
    }
    # Antrea leaves lastMeasuredRTTNanoseconds out (omitempty) until a reply came.
    if pair["last_rtt_ms"] is not None:
        stats["lastMeasuredRTTNanoseconds"] = _nanoseconds(pair["last_rtt_ms"])
    stats.update({
        "family": pair["family"],
        "status": pair["status"],
        "sent": pair["sent"],
        "received": pair["received"],
        "lossRatio": pair["loss"],
        "minRTTNanoseconds": _nanoseconds(pair["min_rtt_ms"]),
        "avgRTTNanoseconds": _nanoseconds(pair["avg_rtt_ms"]),
        "maxRTTNanoseconds": _nanoseconds(pair["max_rtt_ms"]),
        "medianRTTNanoseconds": _nanoseconds(pair["median_rtt_ms"]),
        "stddevRTTNanoseconds": _nanoseconds(pair["stddev_rtt_ms"]),
        "jitterNanoseconds": _nanoseconds(pair["jitter_ms"]),
        "rttsNanoseconds": [_nanoseconds(rtt) for rtt in pair["rtts_ms"]],
        "duplicates": pair["duplicates"],
        "late": pair["late"],
        "error": pair["error"],
    })
    return stats


def node_latency_stats(matrix):
    """A NodeLatencyStatsList with one NodeLatencyStats per node that reported, named after it."""
    items = []
    for node in sorted(matrix["probes"], key=natural_key):
        probe = matrix["probes"][node]
        peers = {}
        for pair in matrix["pairs"]:
            if pair["source"] == node:
                peers.setdefault(pair["target"], []).append(_target_stats(pair))
        items.append({
            "apiVersion": API_VERSION,
            "kind": "NodeLatencyStats",
            "metadata": {"name": node, "creationTimestamp": probe["started"]},
            "peerNodeLatencyStats": [{"nodeName": peer, "targetIPLatencyStats": targets}
                                     for peer, targets in peers.items()],
            "probe": {
                "started": probe["started"],
                "durationSeconds": probe["duration_seconds"],
                "settings": probe["settings"],
            },
        })
    return {"apiVersion": API_VERSION, "kind": "NodeLatencyStatsList", "metadata": {}, "items": items}
