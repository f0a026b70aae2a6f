# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NodeLatencyStats documents in the shape of Antrea's stats.antrea.io/v1alpha1 API."""

from __future__ import annotations

import json
from collections.abc import Mapping

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report import natural_key, pair_status, parse_time

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


# The figures of a target in the document, in its order, with the fact's keys they come from.
_FIGURES = (("minRTTNanoseconds", "min_rtt_ms"), ("avgRTTNanoseconds", "avg_rtt_ms"), ("maxRTTNanoseconds", "max_rtt_ms"),
            ("medianRTTNanoseconds", "median_rtt_ms"), ("stddevRTTNanoseconds", "stddev_rtt_ms"),
            ("jitterNanoseconds", "jitter_ms"), ("p50RTTNanoseconds", "p50_rtt_ms"), ("p95RTTNanoseconds", "p95_rtt_ms"),
            ("p99RTTNanoseconds", "p99_rtt_ms"))


def _document_target(raw):
    """_target_stats of the pair _pair makes of ``raw``, a target of the agent's own fact,
    in one step, without a function call per figure: the agent makes this for every
    target every cycle."""
    get = raw.get
    rtts = [round(rtt * _NS_PER_MS) for rtt in get("rtts_ms") or ()]
    sent = int(raw["sent"])
    received = int(raw["received"])
    error = get("error")
    family = raw["family"]
    stats = {
        "targetIP": str(raw["address"]),
        "lastSendTime": get("last_send_time"),
        "lastRecvTime": get("last_recv_time"),
        # Antrea leaves lastMeasuredRTTNanoseconds out (omitempty) until a reply came
        "lastMeasuredRTTNanoseconds": rtts[-1] if rtts else None,
        "family": family if family is None else str(family),
        "status": pair_status(sent, received, error),
        "sent": sent,
        "received": received,
        "lossRatio": float(raw["loss"]),
    }
    if not rtts:
        del stats["lastMeasuredRTTNanoseconds"]
    for key, fact_key in _FIGURES:
        value = get(fact_key)
        stats[key] = None if value is None else round(value * _NS_PER_MS)
    stats["rttsNanoseconds"] = rtts
    stats["duplicates"] = get("duplicates")
    stats["late"] = get("late")
    stats["error"] = error
    return stats


def node_latency_document(fact):
    """The NodeLatencyStats document of one node's nlm_latency fact: what the nlm agent
    writes after each cycle, the same as the report's item for that node
    (node_latency_stats), made straight from the fact. The report checks and converts
    every figure into a pair first, and a matrix would hold a cell for every pair of
    nodes; for the agent's own fact, every cycle, both were most of what the document cost."""
    source = str(fact["source"])
    rows = []
    keys = {}
    for peer in fact["peers"]:
        name = str(peer["name"])
        if name not in keys:
            keys[name] = natural_key(name)
        for raw in peer["targets"]:
            rows.append((keys[name], raw["family"] or "", str(raw["address"]), name, raw))
    rows.sort(key=lambda row: row[:3])
    peers = {}
    for _key, _family, _address, name, raw in rows:
        peers.setdefault(name, []).append(_document_target(raw))
    started = fact.get("started")
    return {
        "apiVersion": API_VERSION,
        "kind": "NodeLatencyStats",
        "metadata": {"name": source, "creationTimestamp": started},
        "peerNodeLatencyStats": [{"nodeName": peer, "targetIPLatencyStats": targets} for peer, targets in peers.items()],
        "probe": {
            "started": started,
            "durationSeconds": fact.get("duration_seconds"),
            "settings": dict(fact.get("settings") or {}),
        },
    }


# What json.dumps writes a str with (ensure_ascii, its default), so that the text below is
# json.dumps's to the byte.
_JSON_STRING = json.encoder.encode_basestring_ascii
_JSON_COMPACT = (",", ":")
_INFINITY = float("inf")
_TARGET_JSON = (
    '{"targetIP":%s,"lastSendTime":%s,"lastRecvTime":%s%s,"family":%s,"status":%s,"sent":%d,"received":%d,'
    '"lossRatio":%s,"minRTTNanoseconds":%s,"avgRTTNanoseconds":%s,"maxRTTNanoseconds":%s,"medianRTTNanoseconds":%s,'
    '"stddevRTTNanoseconds":%s,"jitterNanoseconds":%s,"p50RTTNanoseconds":%s,"p95RTTNanoseconds":%s,'
    '"p99RTTNanoseconds":%s,"rttsNanoseconds":[%s],"duplicates":%s,"late":%s,"error":%s}')


def _json_value(value):
    """json.dumps(value) of a scalar, without its set-up for the common kinds."""
    kind = value.__class__
    if value is None:
        return "null"
    if kind is str:
        return _JSON_STRING(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float and -_INFINITY < value < _INFINITY:
        return float.__repr__(value)
    return json.dumps(value)


def _target_json(raw):
    """json.dumps(_document_target(raw), separators=(",", ":")), made as text."""
    get = raw.get
    rtts = [round(rtt * _NS_PER_MS) for rtt in get("rtts_ms") or ()]
    sent = int(raw["sent"])
    received = int(raw["received"])
    error = get("error")
    family = raw["family"]
    figures = []
    for _key, fact_key in _FIGURES:
        value = get(fact_key)
        figures.append("null" if value is None else int.__repr__(round(value * _NS_PER_MS)))
    return _TARGET_JSON % (
        _JSON_STRING(str(raw["address"])), _json_value(get("last_send_time")), _json_value(get("last_recv_time")),
        ',"lastMeasuredRTTNanoseconds":%d' % rtts[-1] if rtts else "",
        "null" if family is None else _JSON_STRING(str(family)), _JSON_STRING(pair_status(sent, received, error)),
        sent, received, _json_value(float(raw["loss"])), *figures, ",".join(map(int.__repr__, rtts)),
        _json_value(get("duplicates")), _json_value(get("late")), _json_value(error))


def node_latency_document_json(fact):
    """json.dumps(node_latency_document(fact), separators=(",", ":")), to the byte, written
    as text: the nlm agent writes it every cycle, and building the document's dicts and
    then encoding them cost it about 1.4 times what this does. The test suite holds the
    two to the same bytes."""
    head = {"source": fact["source"], "started": fact.get("started"), "duration_seconds": fact.get("duration_seconds"),
            "settings": fact.get("settings"), "peers": []}
    document = node_latency_document(head)
    probe = document.pop("probe")
    del document["peerNodeLatencyStats"]
    rows = []
    keys = {}
    for peer in fact["peers"]:
        name = str(peer["name"])
        if name not in keys:
            keys[name] = natural_key(name)
        for raw in peer["targets"]:
            rows.append((keys[name], raw["family"] or "", str(raw["address"]), name, raw))
    rows.sort(key=lambda row: row[:3])
    peers = {}
    for _key, _family, _address, name, raw in rows:
        peers.setdefault(name, []).append(_target_json(raw))
    head = json.dumps(document, separators=_JSON_COMPACT)
    return "%s,\"peerNodeLatencyStats\":[%s],\"probe\":%s}" % (
        head[:-1],
        ",".join('{"nodeName":%s,"targetIPLatencyStats":[%s]}' % (_JSON_STRING(name), ",".join(targets))
                 for name, targets in peers.items()),
        json.dumps(probe, separators=_JSON_COMPACT))
