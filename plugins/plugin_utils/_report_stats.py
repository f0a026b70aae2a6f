# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NodeLatencyStats documents in the shape of Antrea's stats.antrea.io/v1alpha1 API."""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Mapping

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report import (
    COMPACT_ZERO_COUNTS,
    natural_key,
    pair_status,
    parse_time,
)
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_verdict import pair_verdict

API_VERSION = "stats.antrea.io/v1alpha1"
_NS_PER_MS = 1_000_000


def _nanoseconds(milliseconds):
    # round() of a float without digits is already an int
    return None if milliseconds is None else round(milliseconds * _NS_PER_MS)


def run_end(started, duration_seconds):
    """When a probe run ended (RFC 3339, UTC, microseconds), from its start and duration; None when either is unknown."""
    if not started or duration_seconds is None:
        return None
    ended = parse_time(started) + datetime.timedelta(seconds=float(duration_seconds))
    return ended.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _stamp(stamp, count, ended):
    """A target's last send or receive time. nlm_probe's compact result (its default)
    has neither: then the run's end stands for it when a request was sent (or a reply
    came), never earlier than the real time and at most the run's duration later."""
    if stamp is None and count:
        return ended
    return stamp


def _target_stats(pair, ended=None):
    stats = {
        "targetIP": pair["address"],
        "lastSendTime": _stamp(pair["last_send_time"], pair["sent"], ended),
        "lastRecvTime": _stamp(pair["last_recv_time"], pair["received"], ended),
    }
    # Antrea leaves lastMeasuredRTTNanoseconds out (omitempty) until a reply came.
    if pair["last_rtt_ms"] is not None:
        stats["lastMeasuredRTTNanoseconds"] = _nanoseconds(pair["last_rtt_ms"])
    stats.update({
        "family": pair["family"],
        "status": pair["status"],
        "verdict": pair["verdict"],
        "verdictReason": pair["reason"],
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
        ended = run_end(probe["started"], probe["duration_seconds"])
        peers = {}
        for pair in matrix["pairs"]:
            if pair["source"] == node:
                peers.setdefault(pair["target"], []).append(_target_stats(pair, ended))
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
                  "last_rtt_ms": _milliseconds(stats.get("lastMeasuredRTTNanoseconds")),
                  "duplicates": stats.get("duplicates"), "late": stats.get("late"), "error": stats.get("error"),
                  "verdict": stats.get("verdict"), "verdict_reason": stats.get("verdictReason")}
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


_FACT_FIGURES = tuple(fact_key for _key, fact_key in _FIGURES)
_MILLION = float(_NS_PER_MS)
# round() of what _MILLION.__mul__ gives (a float, for an int or a float), without the
# special-method look-up round() makes for every value
_WHOLE = float.__round__


@functools.lru_cache(maxsize=4096)
def _own_verdict(family, sent, received, error, source, target):
    """(verdict, reason) of a pair seen from its own end only, as the agent sees it: no
    peer's firewall, and no node's result but its own. Kept across cycles: a peer's
    outcome is nearly always the one of the cycle before."""
    verdict = pair_verdict({"family": family, "sent": sent, "received": received, "error": error,
                            "source": source, "target": target}, None, [], False)
    return verdict["verdict"], verdict["reason"]


def _document_target(raw, ended, source, target):
    """_target_stats of the pair _pair makes of ``raw``, a target of the agent's own fact,
    in one step: the agent makes this for every target every cycle."""
    get = raw.get
    # milliseconds to nanoseconds through map(), without bytecode per figure; the figures
    # a sample is too small for (the higher percentiles, jitter of one reply) are None
    # and come last, so that the others go through map() and the rest, as a rule all
    # None, stays as it is
    rtts = list(map(_WHOLE, map(_MILLION.__mul__, get("rtts_ms") or ())))
    figures = list(map(get, _FACT_FIGURES))
    given = figures.index(None) if None in figures else len(figures)
    rest = figures[given:]
    if rest.count(None) != len(rest):
        rest = [None if value is None else round(value * _MILLION) for value in rest]
    figures = list(map(_WHOLE, map(_MILLION.__mul__, figures[:given]))) + rest
    minimum, average, maximum, median, stddev, jitter, p50, p95, p99 = figures
    if "median_rtt_ms" not in raw:
        # nlm_probe's compact result leaves it out where it is the p50
        median = p50
    sent = int(raw["sent"])
    received = int(raw["received"])
    error = get("error")
    family = raw["family"]
    if rtts:
        last = rtts[-1]
    else:
        # nlm_probe's compact result (its default) has no RTTs, only the last
        last = get("last_rtt_ms")
        if last is not None:
            last = round(float(last) * _MILLION)
    verdict, reason = _own_verdict(family, sent, received, error, source, target)
    stats = {
        "targetIP": str(raw["address"]),
        "lastSendTime": _stamp(get("last_send_time"), sent, ended),
        "lastRecvTime": _stamp(get("last_recv_time"), received, ended),
        # Antrea leaves lastMeasuredRTTNanoseconds out (omitempty) until a reply came
        "lastMeasuredRTTNanoseconds": last,
        "family": family if family is None else str(family),
        "status": pair_status(sent, received, error),
        "verdict": verdict,
        "verdictReason": reason,
        "sent": sent,
        "received": received,
        "lossRatio": float(raw["loss"]),
        "minRTTNanoseconds": minimum,
        "avgRTTNanoseconds": average,
        "maxRTTNanoseconds": maximum,
        "medianRTTNanoseconds": median,
        "stddevRTTNanoseconds": stddev,
        "jitterNanoseconds": jitter,
        "p50RTTNanoseconds": p50,
        "p95RTTNanoseconds": p95,
        "p99RTTNanoseconds": p99,
        "rttsNanoseconds": rtts,
        # the compact result leaves these counts out when they are 0
        **{key: get(key, 0) for key in COMPACT_ZERO_COUNTS},
        "error": error,
    }
    if last is None:
        del stats["lastMeasuredRTTNanoseconds"]
    return stats


@functools.lru_cache(maxsize=4096)
def _peer_key(name):
    # natural_key, kept across cycles: the agent's peers are the same names every cycle
    return tuple(natural_key(name))


def node_latency_document(fact):
    """The NodeLatencyStats document of one node's nlm_latency fact: what the nlm agent
    writes after each cycle, the same as the report's item for that node
    (node_latency_stats), made straight from the fact. The report checks and converts
    every figure into a pair first, and a matrix would hold a cell for every pair of
    nodes; for the agent's own fact, every cycle, both were most of what the document cost."""
    source = str(fact["source"])
    rows = []
    for peer in fact["peers"]:
        name = str(peer["name"])
        key = _peer_key(name)
        for raw in peer["targets"]:
            rows.append((key, raw["family"] or "", str(raw["address"]), name, raw))
    rows.sort(key=lambda row: row[:3])
    started = fact.get("started")
    ended = run_end(started, fact.get("duration_seconds"))
    peers = {}
    for _key, _family, _address, name, raw in rows:
        peers.setdefault(name, []).append(_document_target(raw, ended, source, name))
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


def node_latency_document_json(fact):
    """node_latency_document(fact) as compact JSON text, what the nlm agent writes after
    each cycle (its file is for programs, and at 240 nodes it is some 140 KB)."""
    return json.dumps(node_latency_document(fact), separators=(",", ":"), check_circular=False)
