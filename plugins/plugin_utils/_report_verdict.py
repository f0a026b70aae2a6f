# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Why a pair fails: a verdict for every measured pair, and the patterns across the matrix.

A pair's own figures say whether it is ok or lossy, and the probe's error names a
refused send or an ICMP error. What a firewall drops leaves no trace in the probe: it
is read from each end's nlm_icmp_allow_info ``remotes`` report (the role sets it as the
fact ``nlm_icmp_paths``), which judges the four probe packets between the node and one
peer address on the route to it, with that address as the remote end, so that a rule
naming the peer is decided for that peer.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping

VERDICT_OK = "ok"
VERDICT_LOSSY = "lossy"
VERDICT_BLOCKED_HERE = "blocked here"
VERDICT_BLOCKED_THERE = "blocked there"
VERDICT_UNREACHABLE = "unreachable"
VERDICT_PEER_DOWN = "peer down"
VERDICT_NO_REPLY = "no reply"
VERDICT_NO_DATA = "no data"
# worst first, the order reports list them in
VERDICTS = (VERDICT_BLOCKED_HERE, VERDICT_BLOCKED_THERE, VERDICT_UNREACHABLE, VERDICT_PEER_DOWN, VERDICT_NO_REPLY,
            VERDICT_LOSSY, VERDICT_NO_DATA, VERDICT_OK)
FAILED = frozenset((VERDICT_BLOCKED_HERE, VERDICT_BLOCKED_THERE, VERDICT_UNREACHABLE, VERDICT_PEER_DOWN,
                    VERDICT_NO_REPLY))

# what nlm_probe's ledger writes for a request the local kernel refused
SEND_FAILED = "send failed: "
# a netfilter drop on the way out fails sendto() with EPERM
REFUSED_BY_FIREWALL = SEND_FAILED + os.strerror(errno.EPERM)

# the packets each end's firewall sees, in the order the probe meets them
_PROBER_PATHS = (("out", "echo-request"), ("in", "echo-reply"))
_RESPONDER_PATHS = (("in", "echo-request"), ("out", "echo-reply"))


def host_paths(variables):
    """A host's nlm_icmp_paths (the remotes of nlm_icmp_allow_info) from its variables, as
    {address: entry}; empty when it has none."""
    found = None
    if "ansible_facts" in variables:
        facts = variables["ansible_facts"]
        if isinstance(facts, Mapping) and "nlm_icmp_paths" in facts:
            found = facts["nlm_icmp_paths"]
    if found is None and "nlm_icmp_paths" in variables:
        found = variables["nlm_icmp_paths"]
    if not isinstance(found, (list, tuple)):
        return {}
    return dict((str(entry["address"]), entry) for entry in found
                if isinstance(entry, Mapping) and "address" in entry)


def _drop(entry, wanted):
    """(path, certain) of the first packet of ``wanted`` the entry's firewall drops (certain)
    or may drop; (None, False) when it lets all of them through."""
    if not entry:
        return None, False
    by_packet = dict(((path.get("direction"), path.get("message")), path) for path in entry.get("paths") or ())
    maybe = None
    for packet in wanted:
        path = by_packet.get(packet)
        if path is None:
            continue
        if path.get("verdict") == "drop":
            return path, True
        if path.get("verdict") == "unknown" and maybe is None:
            maybe = path
    return maybe, False


def _rule_text(path):
    """The rule, in firewalld's terms where firewalld runs."""
    return path.get("firewalld_dropped_by") or path.get("shadowed_by") or "?"


def _blame(node, path, certain):
    return {"node": node, "direction": path.get("direction"), "message": path.get("message"),
            "rule": _rule_text(path), "certain": certain}


def _explain(node, blame):
    return "%s's firewall %s the echo-%s %s: %s" % (
        node, "drops" if blame["certain"] else "may drop", blame["message"].split("-", 1)[1], blame["direction"],
        blame["rule"])


def pair_verdict(pair, here, there, peer_down):
    """{verdict, reason, blame} of one measured pair.

    here: the source's paths entry for the pair's address (or None); there: the
    target's entries for the source's addresses (a list); peer_down: the target
    reported nothing and no node got a reply from it."""
    sent, received, error = pair["sent"], pair["received"], pair.get("error")
    if pair.get("family") is None:
        return {"verdict": VERDICT_UNREACHABLE, "reason": error or "not an address", "blame": None}
    if sent and received == sent:
        return {"verdict": VERDICT_OK, "reason": None, "blame": None}
    if received:
        return {"verdict": VERDICT_LOSSY, "reason": "%d of %d replies lost" % (sent - received, sent),
                "blame": None}
    if not sent:
        return {"verdict": VERDICT_UNREACHABLE if error else VERDICT_NO_DATA, "reason": error, "blame": None}
    here_path, here_certain = _drop(here, _PROBER_PATHS)
    there_path, there_certain = None, False
    for entry in there:
        there_path, there_certain = _drop(entry, _RESPONDER_PATHS)
        if there_certain:
            break
    source, target = pair["source"], pair["target"]
    here_blame = _blame(source, here_path, here_certain) if here_path else None
    there_blame = _blame(target, there_path, there_certain) if there_path else None
    if error and error.startswith(SEND_FAILED) and error == REFUSED_BY_FIREWALL:
        reason = "%s's kernel refused to send (%s)" % (source, error[len(SEND_FAILED):])
        if here_blame:
            reason += "; " + _explain(source, here_blame)
        return {"verdict": VERDICT_BLOCKED_HERE, "reason": reason, "blame": here_blame}
    if error:
        blame = there_blame if there_blame and there_blame["certain"] else here_blame or there_blame
        reason = error if not blame else "%s; %s" % (error, _explain(blame["node"], blame))
        return {"verdict": VERDICT_UNREACHABLE, "reason": reason, "blame": blame}
    if here_blame and here_certain:
        return {"verdict": VERDICT_BLOCKED_HERE, "reason": _explain(source, here_blame), "blame": here_blame}
    if there_blame and there_certain:
        return {"verdict": VERDICT_BLOCKED_THERE, "reason": _explain(target, there_blame), "blame": there_blame}
    if peer_down:
        return {"verdict": VERDICT_PEER_DOWN,
                "reason": "%s answered no node, and reported nothing itself (Ansible did not reach it)" % target,
                "blame": None}
    maybe = here_blame or there_blame
    unrouted = [(source, here)] if here and not here.get("paths") and here.get("error") else []
    unrouted += [(target, entry) for entry in there if not entry.get("paths") and entry.get("error")]
    if maybe:
        reason = _explain(maybe["node"], maybe)
    elif unrouted:
        reason = "; ".join("%s: %s %s" % (node, entry["address"], entry["error"]) for node, entry in unrouted)
    elif here is None and not there:
        reason = "no ICMP error came, and neither end's firewall was read (nlm_icmp_paths)"
    else:
        reason = "no ICMP error came, and %s drop%s it" % (
            "neither end's firewall" if here is not None and there else "%s's firewall does not" % (
                source if here is not None else target), "s" if here is not None and there else "")
    return {"verdict": VERDICT_NO_REPLY, "reason": reason, "blame": maybe}


def _addresses_of(pairs):
    """{node: {family: [address]}} as the other nodes probed it."""
    found = {}
    for pair in pairs:
        if pair["family"] is not None:
            per_family = found.setdefault(pair["target"], {}).setdefault(pair["family"], [])
            if pair["address"] not in per_family:
                per_family.append(pair["address"])
    return found


def apply_verdicts(matrix, paths, expected=()):
    """Give every pair and matrix cell of ``matrix`` its verdict, reason and blame, and the
    matrix its patterns. paths: {node: {address: entry}} (host_paths of each node);
    expected: the nodes that should have reported (the play's hosts) - one of them that
    did not, and that no node got a reply from, is down."""
    pairs = matrix["pairs"]
    answered = {pair["target"] for pair in pairs if pair["received"]}
    down = {node for node in expected if node not in matrix["probes"] and node not in answered}
    addresses = _addresses_of(pairs)
    for pair in pairs:
        source_paths = paths.get(pair["source"]) or {}
        here = source_paths.get(pair["address"])
        own = ([here["source"]] if here and here.get("source") else []) \
            + addresses.get(pair["source"], {}).get(pair["family"], [])
        target_paths = paths.get(pair["target"]) or {}
        there = [target_paths[address] for address in dict.fromkeys(own) if address in target_paths]
        verdict = pair_verdict(pair, here, there, pair["target"] in down)
        recorded = pair.pop("recorded_verdict", None)
        if recorded and here is None and not there and recorded[0] in FAILED and verdict["verdict"] in FAILED:
            verdict = {"verdict": recorded[0], "reason": recorded[1], "blame": None}
        pair.update(verdict)
    for by_source in matrix["matrix"].values():
        for by_target in by_source.values():
            for cell in by_target.values():
                if "verdict" not in cell:
                    cell.update({"verdict": VERDICT_NO_DATA, "reason": None, "blame": None})
    matrix["patterns"] = patterns(matrix)
    return matrix


def _failed(cell):
    return cell["verdict"] in FAILED


def _working(cell):
    return cell["verdict"] in (VERDICT_OK, VERDICT_LOSSY)


def _common_rule(cells):
    """The rule every one of ``cells`` is blamed on, when they share one."""
    rules = {(cell["blame"]["node"], cell["blame"]["rule"]) if cell.get("blame") else None for cell in cells}
    if len(rules) == 1 and None not in rules:
        return next(iter(rules))[1]
    return None


def patterns(matrix):
    """What the failed pairs have in common: a node nobody reaches (its inbound), a node
    that reaches nobody (its outbound), one family failing where the other works, and
    asymmetric pairs; each a dict with kind, family, nodes and text."""
    found = []
    nodes = matrix["nodes"]
    reported = set(matrix["probes"])
    covered = set()
    for family in matrix["families"]:
        cells = matrix["matrix"][family]
        # working pairs in all, per source and per target: the pairs that work without a
        # node are the whole less its row and its column, at any size without a third loop
        working = [(source, target) for source in reported for target, cell in cells.get(source, {}).items()
                   if _working(cell)]
        by_source, by_target = {}, {}
        for source, target in working:
            by_source[source] = by_source.get(source, 0) + 1
            by_target[target] = by_target.get(target, 0) + 1
        for node in nodes:
            inbound = [cells[source][node] for source in nodes
                       if source != node and source in reported and cells[source][node]["verdict"] != VERDICT_NO_DATA]
            # a peer that is down says nothing about this node's own outbound
            # a node that answers nobody and reported nothing is down, which its pairs already say
            if node in reported and len(inbound) >= 2 and all(_failed(cell) for cell in inbound):
                rule = _common_rule(inbound)
                found.append({"kind": "unreached", "family": family, "nodes": [node],
                              "text": "%s: no node reaches %s (its inbound)%s"
                                      % (family, node, ": %s" % rule if rule else "")})
                covered.update((cell["source"], node, family) for cell in inbound)
            outbound = [cells[node][target] for target in nodes
                        if target != node and cells[node][target]["verdict"] not in (VERDICT_NO_DATA, VERDICT_PEER_DOWN)] \
                if node in reported else []
            reached_by_others = len(working) - by_source.get(node, 0) - by_target.get(node, 0) > 0
            if len(outbound) >= 2 and all(_failed(cell) for cell in outbound) and reached_by_others:
                rule = _common_rule(outbound)
                found.append({"kind": "unreaching", "family": family, "nodes": [node],
                              "text": "%s: %s reaches no node (its outbound)%s"
                                      % (family, node, ": %s" % rule if rule else "")})
                covered.update((node, cell["target"], family) for cell in outbound)
    if len(matrix["families"]) == 2:
        for family, other in (matrix["families"], tuple(reversed(matrix["families"]))):
            broken = [(source, target) for source in nodes for target in nodes
                      if source != target and _failed(matrix["matrix"][family][source][target])
                      and _working(matrix["matrix"][other][source][target])]
            if broken:
                pairs = [(s, t) for s, t in broken if (s, t, family) not in covered]
                found.append({"kind": "family", "family": family, "nodes": sorted({n for pair in broken for n in pair}),
                              "text": "%s fails on %d pair%s where %s works%s" % (
                                  family, len(broken), "" if len(broken) == 1 else "s", other,
                                  ": " + ", ".join("%s->%s" % pair for pair in pairs[:6])
                                  + (", ..." if len(pairs) > 6 else "") if pairs else "")})
    for family in matrix["families"]:
        cells = matrix["matrix"][family]
        for index, first in enumerate(nodes):
            for second in nodes[index + 1:]:
                there, back = cells[first][second], cells[second][first]
                for forward, backward in ((there, back), (back, there)):
                    key = (backward["source"], backward["target"], family)
                    if _working(forward) and _failed(backward) and key not in covered:
                        found.append({"kind": "asymmetric", "family": family,
                                      "nodes": [forward["source"], forward["target"]],
                                      "text": "%s: %s -> %s works, %s -> %s does not (%s)" % (
                                          family, forward["source"], forward["target"], backward["source"],
                                          backward["target"], backward["verdict"])})
    return found
