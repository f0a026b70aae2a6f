# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The latency matrix and per-node summary built from every host's nlm_latency facts.

Pure functions shared by the report filters; every rendering starts from
build_matrix() so that all of them agree on nodes, pairs and statuses.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_verdict import VERDICTS, apply_verdicts, host_paths

MATRIX_KIND = "NlmLatencyMatrix"
FAMILIES = ("ipv4", "ipv6")

# Pair statuses, worst first: the order in which reports list problems.
STATUS_ERROR = "error"
STATUS_DOWN = "down"
STATUS_MISSING = "missing"
STATUS_LOSSY = "lossy"
STATUS_OK = "ok"
# Missing comes after lossy: a single-stack peer in a dual-stack cluster has
# pairs without data that are no fault.
STATUS_ORDER = (STATUS_ERROR, STATUS_DOWN, STATUS_LOSSY, STATUS_MISSING, STATUS_OK)

_REQUIRED_TARGET_KEYS = ("address", "family", "sent", "received", "loss")
# The probe may leave these out when it has nothing to say; they read as null, but for
# the counts below (0) and a median, which is the p50 where it is left out.
_OPTIONAL_TARGET_KEYS = (
    "min_rtt_ms", "avg_rtt_ms", "max_rtt_ms", "median_rtt_ms", "stddev_rtt_ms", "jitter_ms",
    "p50_rtt_ms", "p95_rtt_ms", "p99_rtt_ms", "last_send_time", "last_recv_time", "error", "duplicates", "late",
)
_OPTIONAL_MS_KEYS = tuple(key for key in _OPTIONAL_TARGET_KEYS if key.endswith("_ms"))
_OPTIONAL_OTHER_KEYS = tuple(key for key in _OPTIONAL_TARGET_KEYS if not key.endswith("_ms"))
# counts nlm_probe's compact result leaves out when they are 0
COMPACT_ZERO_COUNTS = ("duplicates", "late")


class ReportError(ValueError):
    """The input is not a set of nlm_latency facts, a hostvars mapping or a matrix."""


def natural_key(name):
    """Sort key that puts n2 before n10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def format_ms(value):
    """Milliseconds in at most five characters, as many decimals as fit."""
    for decimals, below in ((3, 9.9995), (2, 99.995), (1, 999.95)):
        if value < below:
            return "%.*f" % (decimals, value)
    return "%.0f" % value


def parse_time(rfc3339):
    """An aware datetime of an RFC 3339 time stamp as the probe writes them."""
    # fromisoformat() reads a trailing Z only from Python 3.11 on.
    return datetime.datetime.fromisoformat(str(rfc3339).replace("Z", "+00:00"))


def is_matrix(data):
    # Membership first: hostvars answers get() for a host it lacks with an
    # undefined value that fails when looked at.
    return isinstance(data, Mapping) and "kind" in data and data["kind"] == MATRIX_KIND


def _host_fact(variables):
    """A host's nlm_latency from its variables: under ansible_facts, where the probe
    puts it and where it stays with inject_facts_as_vars off; else the top-level
    variable (injected facts, set_fact). Membership first, as in is_matrix."""
    if "ansible_facts" in variables:
        facts = variables["ansible_facts"]
        if isinstance(facts, Mapping) and "nlm_latency" in facts and facts["nlm_latency"] is not None:
            return facts["nlm_latency"]
    if "nlm_latency" in variables and variables["nlm_latency"] is not None:
        return variables["nlm_latency"]
    return None


def _facts_from(data, hosts):
    """(where, fact) pairs from a single fact, a list of facts, a hostvars mapping, or
    NodeLatencyStats documents in any of those places."""
    # imported here: _report_stats builds on this module
    from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_stats import (
        is_node_latency_stats, latency_facts)
    found = []
    for where, fact in _raw_facts_from(data, hosts):
        if is_node_latency_stats(fact):
            try:
                found.extend((where, converted) for converted in latency_facts(fact))
            except (KeyError, TypeError, ValueError) as exc:
                raise ReportError("%s: not a NodeLatencyStats document (%s: %s)" % (where, type(exc).__name__, exc))
        else:
            found.append((where, fact))
    return found


def _raw_facts_from(data, hosts):
    if isinstance(data, Mapping) and "kind" in data and data["kind"] in ("NodeLatencyStats", "NodeLatencyStatsList"):
        return [("NodeLatencyStats", data)]
    if isinstance(data, Mapping):
        if "source" in data and "peers" in data:
            return [("nlm_latency", data)]
        names = list(data) if hosts is None else [host for host in hosts if host in data]
        found = []
        for host in names:
            fact = _host_fact(data[host])
            if fact is not None:
                found.append(("nlm_latency of host %s" % host, fact))
        return found
    if isinstance(data, (list, tuple)):
        return [("item %d" % index, fact) for index, fact in enumerate(data)]
    raise ReportError(
        "expected hostvars, a list of nlm_latency facts, one nlm_latency fact, NodeLatencyStats or a matrix, got %s"
        % type(data).__name__)


def _require(mapping, keys, where):
    if not isinstance(mapping, Mapping):
        raise ReportError("%s: expected a mapping, got %s" % (where, type(mapping).__name__))
    missing = [key for key in keys if key not in mapping]
    if missing:
        raise ReportError("%s: missing %s" % (where, ", ".join(missing)))


def pair_status(sent, received, error):
    """A pair's status from its counts and error."""
    # The probe also explains partial loss in error; only a target that never
    # answered is an error rather than lossy.
    if received == 0:
        return STATUS_ERROR if error else STATUS_DOWN
    if received < sent:
        return STATUS_LOSSY
    return STATUS_OK


def _pair(source, target_node, raw, where):
    _require(raw, _REQUIRED_TARGET_KEYS, where)
    # The probe reports a target that is not an address with a null family.
    if raw["family"] is not None and raw["family"] not in FAMILIES:
        raise ReportError("%s: family must be ipv4, ipv6 or null, got %r" % (where, raw["family"]))
    try:
        pair = {
            "source": source,
            "target": target_node,
            "family": None if raw["family"] is None else str(raw["family"]),
            "address": str(raw["address"]),
            "sent": int(raw["sent"]),
            "received": int(raw["received"]),
            "loss": float(raw["loss"]),
        }
        for key in _OPTIONAL_MS_KEYS:
            value = raw.get(key)
            pair[key] = None if value is None else float(value)
        for key in _OPTIONAL_OTHER_KEYS:
            pair[key] = raw.get(key, 0 if key in COMPACT_ZERO_COUNTS else None)
        if "median_rtt_ms" not in raw:
            # the compact result leaves it out where it is the p50
            pair["median_rtt_ms"] = pair["p50_rtt_ms"]
        pair["rtts_ms"] = [float(rtt) for rtt in raw.get("rtts_ms") or []]
        # nlm_probe's compact result (its default) has no rtts_ms, only last_rtt_ms
        last = pair["rtts_ms"][-1] if pair["rtts_ms"] else raw.get("last_rtt_ms")
        pair["last_rtt_ms"] = None if last is None else float(last)
    except (TypeError, ValueError) as exc:
        # The message already quotes the conversion error.
        raise ReportError("%s: not a number where one belongs (%s)" % (where, exc)) from None
    pair["status"] = pair_status(pair["sent"], pair["received"], pair["error"])
    # a NodeLatencyStats document of this collection keeps the verdict its run gave, which
    # may have read firewalls the document does not hold
    if raw.get("verdict") in VERDICTS:
        pair["recorded_verdict"] = (raw["verdict"], raw.get("verdict_reason"))
    return pair


def _missing_pair(source, target, family):
    pair = {"source": source, "target": target, "family": family, "address": None,
            "sent": 0, "received": 0, "loss": None, "rtts_ms": [], "last_rtt_ms": None,
            "status": STATUS_MISSING}
    pair.update(dict.fromkeys(_OPTIONAL_TARGET_KEYS))
    return pair


def _badness(pair):
    """Sort key: worst verdict (or, before there are verdicts, status) first, then highest loss, then slowest."""
    rank = VERDICTS.index(pair["verdict"]) if "verdict" in pair else STATUS_ORDER.index(pair["status"])
    return (rank, -(pair["loss"] or 0.0),
            -(pair["avg_rtt_ms"] or 0.0), natural_key(pair["source"]), natural_key(pair["target"]),
            pair["family"] or "", pair["address"] or "")


def worst_pairs(matrix):
    """Every cell of the matrix from sources that reported, missing ones included, worst first.

    A node without facts is one line of the summary, not N - 1 lines here.
    Targets that are not addresses have no family, hence no cell, and are
    added from the pairs.
    """
    cells = [cell for by_source in matrix["matrix"].values()
             for source, by_target in by_source.items() if source in matrix["probes"]
             for cell in by_target.values()]
    cells += [pair for pair in matrix["pairs"] if pair["family"] is None]
    return sorted(cells, key=_badness)


def probes_and_pairs(data, hosts=None):
    """Each reporting node's probe and every pair it measured, without the matrix
    (which holds a cell for every pair of nodes): ({node: probe}, [pair], {node})."""
    probes = {}
    pairs = []
    nodes = set(hosts or ())
    for where, fact in _facts_from(data, hosts):
        _require(fact, ("source", "peers"), where)
        source = str(fact["source"])
        if source in probes:
            raise ReportError("%s: a second fact for source %s" % (where, source))
        probes[source] = {
            "started": fact.get("started"),
            "duration_seconds": fact.get("duration_seconds"),
            "settings": dict(fact.get("settings") or {}),
        }
        nodes.add(source)
        for peer_index, peer in enumerate(fact["peers"]):
            peer_where = "%s: peers[%d]" % (where, peer_index)
            _require(peer, ("name", "targets"), peer_where)
            nodes.add(str(peer["name"]))
            for target_index, raw in enumerate(peer["targets"]):
                pairs.append(_pair(source, str(peer["name"]), raw,
                                   "%s.targets[%d]" % (peer_where, target_index)))
    return probes, pairs, nodes


def build_matrix(data, hosts=None):
    """The sources x targets matrix per IP family.

    data is hostvars (a mapping of host to its variables, of which nlm_latency
    is read), a list of nlm_latency facts, one fact, or a matrix this function
    made before (returned unchanged). hosts names the nodes expected to report:
    those without facts still get a row, marked missing.
    """
    if is_matrix(data):
        return data
    probes, pairs, nodes = probes_and_pairs(data, hosts)
    ordered_nodes = sorted(nodes, key=natural_key)
    families = [family for family in FAMILIES if any(pair["family"] == family for pair in pairs)]
    matrix = {family: {source: {target: _missing_pair(source, target, family)
                                for target in ordered_nodes if target != source}
                       for source in ordered_nodes}
              for family in families}
    for pair in sorted((pair for pair in pairs if pair["family"] is not None), key=_badness, reverse=True):
        # A peer with several addresses of one family keeps its worst one in
        # the matrix cell (sorted last, written last); every address stays in pairs.
        matrix[pair["family"]][pair["source"]][pair["target"]] = pair
    pairs.sort(key=lambda pair: (natural_key(pair["source"]), natural_key(pair["target"]),
                                 pair["family"] or "", pair["address"]))
    paths = {}
    if isinstance(data, Mapping) and not ("source" in data and "peers" in data) and "kind" not in data:
        for host in (list(data) if hosts is None else [host for host in hosts if host in data]):
            paths[host] = host_paths(data[host])
    return apply_verdicts({
        "kind": MATRIX_KIND,
        "nodes": ordered_nodes,
        "families": families,
        "probes": probes,
        "pairs": pairs,
        "matrix": matrix,
    }, paths, hosts or ())


def headline(matrix):
    """Nodes, families and start of the run in one short line, shared by the renderings."""
    line = "%d nodes, %d probed" % (len(matrix["nodes"]), len(matrix["probes"]))
    if matrix["families"]:
        line += ", " + "+".join(matrix["families"])
    started = [parse_time(probe["started"]) for probe in matrix["probes"].values() if probe["started"]]
    if started:
        # Seconds tell runs apart, and the line then fits 80 columns.
        line += ", started %s" % min(started).strftime("%Y-%m-%d %H:%M:%S UTC")
    return line


def _mean(values):
    return sum(values) / len(values) if values else None


def _notes(probed, counts):
    if not probed:
        return "no data"
    return ", ".join("%d %s" % (count, label) for label, count in counts if count)


def summarize(matrix):
    """Per source node: what kubectl get nodelatencystats shows (entries, average, maximum) and more.

    entries counts the peers the node reported (Antrea's NUM LATENCY ENTRIES);
    avg_rtt_ms is the mean of the per-target averages and max_rtt_ms the
    slowest single reply, both over targets that answered.
    """
    by_source = {}
    for pair in matrix["pairs"]:
        by_source.setdefault(pair["source"], []).append(pair)
    rows = []
    for node in matrix["nodes"]:
        pairs = by_source.get(node, [])
        answered = [pair for pair in pairs if pair["avg_rtt_ms"] is not None]
        lossy, down, errors = (sum(1 for pair in pairs if pair["status"] == status)
                               for status in (STATUS_LOSSY, STATUS_DOWN, STATUS_ERROR))
        sent = sum(pair["sent"] for pair in pairs)
        received = sum(pair["received"] for pair in pairs)
        rows.append({
            "node": node,
            "probed": node in matrix["probes"],
            "entries": len({pair["target"] for pair in pairs}),
            "targets": len(pairs),
            "avg_rtt_ms": _mean([pair["avg_rtt_ms"] for pair in answered]),
            "max_rtt_ms": max((pair["max_rtt_ms"] for pair in answered), default=None),
            "sent": sent,
            "received": received,
            "loss": 1.0 - received / sent if sent else None,
            "lossy": lossy,
            "down": down,
            "errors": errors,
            "notes": _notes(node in matrix["probes"], (("lossy", lossy), ("no reply", down), ("failed", errors))),
        })
    return rows
