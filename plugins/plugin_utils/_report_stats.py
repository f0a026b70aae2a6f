# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NodeLatencyStats documents in the shape of Antrea's stats.antrea.io/v1alpha1 API."""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report import natural_key, parse_time, probes_and_pairs

API_VERSION = "stats.antrea.io/v1alpha1"
_NS_PER_MS = 1_000_000


def _nanoseconds(milliseconds):
    # round() of a float without digits is already an int
    return None if milliseconds is None else round(milliseconds * _NS_PER_MS)


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
        "p50RTTNanoseconds": _nanoseconds(pair["p50_rtt_ms"]),
        "p95RTTNanoseconds": _nanoseconds(pair["p95_rtt_ms"]),
        "p99RTTNanoseconds": _nanoseconds(pair["p99_rtt_ms"]),
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


def _milliseconds(nanoseconds):
    return None if nanoseconds is None else nanoseconds / _NS_PER_MS


def _family_of(address):
    return "ipv6" if ":" in str(address) else "ipv4"


def _answered(target):
    """Antrea's own stats: whether the last request got its reply (the reply came after it)."""
    if target.get("lastMeasuredRTTNanoseconds") is None or not target.get("lastRecvTime"):
        return False
    if not target.get("lastSendTime"):
        return True
    return parse_time(target["lastRecvTime"]) >= parse_time(target["lastSendTime"])


def _target_of(stats):
    if "sent" in stats:
        # this collection's document: every figure is there
        target = {"address": stats["targetIP"], "family": stats["family"] if "family" in stats else _family_of(stats["targetIP"]),
                  "sent": stats["sent"], "received": stats["received"], "loss": stats.get("lossRatio"),
                  "rtts_ms": [_milliseconds(rtt) for rtt in stats.get("rttsNanoseconds") or []],
                  "duplicates": stats.get("duplicates"), "late": stats.get("late"), "error": stats.get("error")}
        for key, field in (("min_rtt_ms", "minRTTNanoseconds"), ("avg_rtt_ms", "avgRTTNanoseconds"),
                           ("max_rtt_ms", "maxRTTNanoseconds"), ("median_rtt_ms", "medianRTTNanoseconds"),
                           ("stddev_rtt_ms", "stddevRTTNanoseconds"), ("jitter_ms", "jitterNanoseconds"),
                           ("p50_rtt_ms", "p50RTTNanoseconds"), ("p95_rtt_ms", "p95RTTNanoseconds"),
                           ("p99_rtt_ms", "p99RTTNanoseconds")):
            target[key] = _milliseconds(stats.get(field))
    else:
        # Antrea's: the last request and its reply, if it came
        answered = _answered(stats)
        rtt = _milliseconds(stats.get("lastMeasuredRTTNanoseconds")) if answered else None
        target = {"address": stats["targetIP"], "family": _family_of(stats["targetIP"]), "sent": 1,
                  "received": 1 if answered else 0, "loss": 0.0 if answered else 1.0,
                  "rtts_ms": [rtt] if answered else [], "min_rtt_ms": rtt, "avg_rtt_ms": rtt, "max_rtt_ms": rtt}
    target["last_send_time"] = stats.get("lastSendTime")
    target["last_recv_time"] = stats.get("lastRecvTime")
    return target


def is_node_latency_stats(data):
    return isinstance(data, Mapping) and "kind" in data and data["kind"] in ("NodeLatencyStats", "NodeLatencyStatsList")


def latency_facts(document):
    """The nlm_latency facts a NodeLatencyStats document (or a list of them) stands for:
    this collection's give back every figure; Antrea's own, which hold only the last
    request and reply per address, count as one echo sent and answered or not."""
    if document["kind"] == "NodeLatencyStatsList":
        return [fact for item in document.get("items") or [] for fact in latency_facts(item)]
    probe = document.get("probe") or {}
    return [{
        "source": document["metadata"]["name"],
        "started": probe.get("started") or document["metadata"].get("creationTimestamp"),
        "duration_seconds": probe.get("durationSeconds"),
        "settings": probe.get("settings") or {},
        "peers": [{"name": peer["nodeName"], "targets": [_target_of(stats) for stats in peer.get("targetIPLatencyStats") or []]}
                  for peer in document.get("peerNodeLatencyStats") or []],
    }]


def node_latency_document(fact):
    """The NodeLatencyStats document of one node's nlm_latency fact (what the nlm agent
    writes after each cycle), made of its pairs alone: a matrix would hold a cell for
    every pair of nodes, which at 240 nodes is most of the agent's cycle."""
    probes, pairs, _nodes = probes_and_pairs(fact)
    pairs.sort(key=lambda pair: (natural_key(pair["target"]), pair["family"] or "", pair["address"]))
    return node_latency_stats({"probes": probes, "pairs": pairs})["items"][0]
