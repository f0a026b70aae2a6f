# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verdicts, patterns, the SLO gate and the comparison, from hand-made facts and paths."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.nodelatency.monitor.plugins.filter.nlm_latency_compare import nlm_latency_compare
from ansible_collections.nodelatency.monitor.plugins.filter.nlm_latency_matrix import nlm_latency_matrix
from ansible_collections.nodelatency.monitor.plugins.filter.nlm_latency_slo import nlm_latency_slo
from ansible_collections.nodelatency.monitor.plugins.filter.nlm_latency_table import nlm_latency_table
from ansible_collections.nodelatency.monitor.plugins.filter.nlm_node_latency_stats import nlm_node_latency_stats
from ansible_collections.nodelatency.monitor.plugins.filter.nlm_verdict_remotes import nlm_verdict_remotes

GW4 = {"n1": "198.19.1.1", "n2": "198.19.2.1", "n3": "198.19.3.1", "n4": "198.19.4.1"}
GW6 = {"n1": "2001:db8:1:1::1", "n2": "2001:db8:1:2::1", "n3": "2001:db8:1:3::1", "n4": "2001:db8:1:4::1"}
DROP_IN = "nftables inet fault input #1: icmp type echo-request drop"
EPERM = "send failed: Operation not permitted"


def target(address, family, received=3, sent=3, error=None, avg=0.2, p95=None):
    answered = received > 0
    return {"address": address, "family": family, "sent": sent, "received": received,
            "loss": 1.0 - received / sent if sent else 1.0, "error": error,
            "min_rtt_ms": avg if answered else None, "avg_rtt_ms": avg if answered else None,
            "max_rtt_ms": avg * 1.5 if answered else None, "p95_rtt_ms": p95 if answered else None,
            "last_rtt_ms": avg if answered else None}


def mesh(nodes, override=None, families=("ipv4", "ipv6")):
    """hostvars of ``nodes`` that each probed every other, all answered but what override
    {(source, target, family): target kwargs} says."""
    override = override or {}
    hostvars = {}
    for source in nodes:
        peers = []
        for peer in nodes:
            if peer == source:
                continue
            targets = [target((GW4 if family == "ipv4" else GW6)[peer], family,
                              **override.get((source, peer, family), {})) for family in families]
            peers.append({"name": peer, "targets": targets})
        hostvars[source] = {"ansible_facts": {"nlm_latency": {
            "source": source, "started": "2026-12-02T08:00:00.000000Z", "duration_seconds": 1.0,
            "settings": {"count": 3}, "peers": peers}}}
    return hostvars


def paths(entries):
    """nlm_icmp_paths: {address: {(direction, message): (verdict, rule)}} as nlm_icmp_allow_info's remotes."""
    found = []
    for address, verdicts in entries.items():
        listed = []
        for role, direction, message in (("responder", "in", "echo-request"), ("prober", "in", "echo-reply"),
                                         ("prober", "out", "echo-request"), ("responder", "out", "echo-reply")):
            verdict, rule = verdicts.get((direction, message), ("accept", None))
            listed.append({"role": role, "direction": direction, "message": message, "verdict": verdict,
                           "shadowed_by": rule})
        found.append({"address": address, "family": "ipv6" if ":" in address else "ipv4",
                      "interface": "antrea-gw0", "source": None, "paths": listed})
    return found


def pair(matrix, source, target_node, family="ipv4"):
    return matrix["matrix"][family][source][target_node]


def test_ok_and_lossy_come_from_the_figures():
    matrix = nlm_latency_matrix(mesh(["n1", "n2"], {("n1", "n2", "ipv6"): {"received": 2}}))
    assert (pair(matrix, "n1", "n2")["verdict"], pair(matrix, "n1", "n2")["reason"]) == ("ok", None)
    assert (pair(matrix, "n1", "n2", "ipv6")["verdict"], pair(matrix, "n1", "n2", "ipv6")["reason"]) == (
        "lossy", "1 of 3 replies lost")


def test_blocked_there_names_the_peers_rule_for_this_sources_address():
    hostvars = mesh(["n1", "n2", "n3"], {(source, "n2", "ipv4"): {"received": 0} for source in ("n1", "n3")})
    # n2 drops echo requests from n1's address only: n3's failure is not n2's rule
    hostvars["n2"]["nlm_icmp_paths"] = paths({GW4["n1"]: {("in", "echo-request"): ("drop", DROP_IN)},
                                              GW4["n3"]: {}})
    hostvars["n1"]["nlm_icmp_paths"] = paths({GW4["n2"]: {}})
    matrix = nlm_latency_matrix(hostvars, hosts=["n1", "n2", "n3"])
    blocked = pair(matrix, "n1", "n2")
    assert blocked["verdict"] == "blocked there"
    assert blocked["reason"] == "n2's firewall drops the echo-request in: " + DROP_IN
    assert blocked["blame"] == {"node": "n2", "direction": "in", "message": "echo-request", "rule": DROP_IN,
                                "certain": True}
    unexplained = pair(matrix, "n3", "n2")
    assert unexplained["verdict"] == "no reply"
    assert unexplained["reason"] == "no ICMP error came, and n2's firewall does not drop it"


def test_blocked_here_from_a_refused_send_or_a_dropped_reply():
    hostvars = mesh(["n1", "n2", "n3"], {("n1", "n2", "ipv6"): {"received": 0, "error": EPERM},
                                         ("n1", "n3", "ipv6"): {"received": 0, "error": EPERM},
                                         ("n3", "n1", "ipv4"): {"received": 0}})
    hostvars["n1"]["nlm_icmp_paths"] = paths({GW6["n2"]: {("out", "echo-request"): ("drop", "ip6 filter OUTPUT")}})
    hostvars["n3"]["nlm_icmp_paths"] = paths({GW4["n1"]: {("in", "echo-reply"): ("drop", "ip filter INPUT #2")}})
    matrix = nlm_latency_matrix(hostvars)
    with_rule = pair(matrix, "n1", "n2", "ipv6")
    assert with_rule["verdict"] == "blocked here"
    assert with_rule["reason"] == ("n1's kernel refused to send (Operation not permitted); "
                                   "n1's firewall drops the echo-request out: ip6 filter OUTPUT")
    # the kernel's refusal alone says where, without any firewall read
    assert pair(matrix, "n1", "n3", "ipv6")["verdict"] == "blocked here"
    assert pair(matrix, "n1", "n3", "ipv6")["blame"] is None
    reply = pair(matrix, "n3", "n1")
    assert (reply["verdict"], reply["reason"]) == (
        "blocked here", "n3's firewall drops the echo-reply in: ip filter INPUT #2")


def test_an_icmp_error_is_unreachable_with_the_rule_that_sent_it():
    error = "destination unreachable (communication administratively prohibited) from 198.19.3.1"
    hostvars = mesh(["n1", "n3"], {("n1", "n3", "ipv4"): {"received": 0, "error": error}})
    reject = "iptables-nft ip filter INPUT #1: -A INPUT -s 198.19.1.1/32 -j REJECT"
    hostvars["n3"]["nlm_icmp_paths"] = paths({GW4["n1"]: {("in", "echo-request"): ("drop", reject)}})
    cell = pair(nlm_latency_matrix(hostvars), "n1", "n3")
    assert cell["verdict"] == "unreachable"
    assert cell["reason"] == error + "; n3's firewall drops the echo-request in: " + reject
    assert pair(nlm_latency_matrix(mesh(["n1", "n3"], {("n1", "n3", "ipv4"): {"received": 0, "error": error}})),
                "n1", "n3")["reason"] == error


def test_a_rule_that_may_drop_is_named_but_not_blamed_as_certain():
    hostvars = mesh(["n1", "n2"], {("n1", "n2", "ipv4"): {"received": 0}})
    hostvars["n2"]["nlm_icmp_paths"] = paths({GW4["n1"]: {("in", "echo-request"): ("unknown", "limit rate")}})
    cell = pair(nlm_latency_matrix(hostvars), "n1", "n2")
    assert (cell["verdict"], cell["reason"]) == ("no reply", "n2's firewall may drop the echo-request in: limit rate")


def test_peer_down_only_for_an_expected_host_that_reported_nothing_and_answered_no_one():
    hostvars = mesh(["n1", "n2", "n3"], {(source, "n3", family): {"received": 0}
                                         for source in ("n1", "n2") for family in ("ipv4", "ipv6")})
    del hostvars["n3"]
    matrix = nlm_latency_matrix(hostvars, hosts=["n1", "n2", "n3"])
    assert pair(matrix, "n1", "n3")["verdict"] == "peer down"
    assert pair(matrix, "n3", "n1")["verdict"] == "no data"
    # without the play's hosts, a node that did not report may simply not have been asked
    assert pair(nlm_latency_matrix(hostvars), "n1", "n3")["verdict"] == "no reply"


def test_patterns_name_inbound_outbound_family_and_asymmetry():
    nodes = ["n1", "n2", "n3", "n4"]
    override = {(source, "n2", "ipv4"): {"received": 0} for source in nodes if source != "n2"}
    override.update({("n3", peer, "ipv6"): {"received": 0, "error": EPERM} for peer in nodes if peer != "n3"})
    override[("n4", "n1", "ipv4")] = {"received": 0}
    hostvars = mesh(nodes, override)
    for node in nodes:
        if node != "n2":
            hostvars[node]["nlm_icmp_paths"] = paths({GW4["n2"]: {}})
    hostvars["n2"]["nlm_icmp_paths"] = paths(dict((GW4[node], {("in", "echo-request"): ("drop", DROP_IN)})
                                                  for node in nodes if node != "n2"))
    texts = [found["text"] for found in nlm_latency_matrix(hostvars)["patterns"]]
    assert "ipv4: no node reaches n2 (its inbound): " + DROP_IN in texts
    assert "ipv6: n3 reaches no node (its outbound)" in texts
    assert "ipv4: n1 -> n4 works, n4 -> n1 does not (no reply)" in texts
    assert "ipv4 fails on 3 pairs where ipv6 works: n4->n1" in texts
    assert "ipv6 fails on 2 pairs where ipv4 works" in texts
    # pairs a node pattern explains are not listed again as asymmetric
    assert not [text for text in texts if "n2 -> " in text or "n3 -> " in text]
    table = nlm_latency_table(hostvars)
    assert "Patterns:\n  ipv4: no node reaches n2 (its inbound)" in table
    assert "  n1 -> n2  198.19.2.1  blocked there  replies 0/3\n      n2's firewall drops" in table


def test_verdict_remotes_ask_both_ends_of_every_pair_without_reply():
    hostvars = mesh(["n1", "n2", "n3"], {("n1", "n2", "ipv4"): {"received": 0},
                                         ("n3", "n2", "ipv6"): {"received": 1}})
    hostvars["n1"]["nlm_gateway_ipv4"] = "198.19.1.1"
    assert nlm_verdict_remotes(hostvars, hosts=["n1", "n2", "n3"]) == {"n1": ["198.19.2.1"], "n2": ["198.19.1.1"]}
    assert nlm_verdict_remotes(mesh(["n1", "n2"])) == {}
    with pytest.raises(AnsibleFilterError, match="target must be auto, gateway or transport"):
        nlm_verdict_remotes(hostvars, target="pods")


def test_the_slo_lists_each_pair_beyond_it_with_its_verdict():
    hostvars = mesh(["n1", "n2"], {("n1", "n2", "ipv4"): {"avg": 21.0}, ("n2", "n1", "ipv6"): {"received": 0}})
    hostvars["n1"]["nlm_icmp_paths"] = paths({GW6["n2"]: {("in", "echo-request"): ("drop", DROP_IN)}})
    lines = nlm_latency_slo(hostvars, {"max_loss": 0, "max_avg_rtt_ms": 5, "ipv6": {"max_avg_rtt_ms": 1}})
    assert lines == [
        "n1 -> n2 ipv4 198.19.2.1: avg 21 ms > 5 ms; ok",
        "n2 -> n1 ipv6 2001:db8:1:1::1: loss 100.0% > 0.0%, avg unknown (no reply) > 1 ms; blocked there: "
        "n1's firewall drops the echo-request in: " + DROP_IN,
    ]
    assert nlm_latency_slo(hostvars, {"ipv4": {"max_avg_rtt_ms": 30}}) == []


@pytest.mark.parametrize("slo, message", [
    ({"max_latency": 1}, "unknown SLO limit max_latency: the limits are max_loss, "),
    ({"ipv4": {"p99": 1}}, "unknown SLO limit ipv4.p99"),
    ({"max_loss": 5}, "max_loss is a ratio from 0 to 1 (0.05 for 5 %), got 5"),
    ({"max_avg_rtt_ms": "fast"}, "max_avg_rtt_ms must be a number of 0 or more, got 'fast'"),
    ({"max_p95_rtt_ms": 2}, "max_p95_rtt_ms needs at least 20 replies per pair, and n1 -> n2 ipv4 198.19.2.1"),
    ("fast", "the SLO must be a mapping of limits, got str"),
])
def test_a_bad_slo_says_what_to_do(slo, message):
    with pytest.raises(AnsibleFilterError) as caught:
        nlm_latency_slo(mesh(["n1", "n2"]), slo)
    assert message in str(caught.value)


def test_compare_names_what_got_worse_and_better_through_the_json_report():
    before = mesh(["n1", "n2", "n3"], {("n1", "n3", "ipv4"): {"received": 0}, ("n2", "n3", "ipv4"): {"avg": 20.0}})
    before["n1"]["nlm_icmp_paths"] = paths({})
    before["n3"]["nlm_icmp_paths"] = paths({GW4["n1"]: {("in", "echo-request"): ("drop", DROP_IN)}})
    now = mesh(["n1", "n2", "n3"], {("n2", "n1", "ipv4"): {"received": 0}, ("n3", "n2", "ipv6"): {"received": 1},
                                    ("n1", "n2", "ipv6"): {"avg": 0.5}})
    # the earlier run as the role wrote it to disk, and read back
    previous = json.loads(json.dumps(nlm_node_latency_stats(before)))
    changes = nlm_latency_compare(now, previous)
    assert changes["worse"] == ["n1 -> n2 ipv6: avg 0.2 -> 0.5 ms", "n2 -> n1 ipv4: ok -> no reply "
                                "(no ICMP error came, and neither end's firewall was read (nlm_icmp_paths))",
                                "n3 -> n2 ipv6: loss 0.0% -> 66.7%"]
    assert changes["better"] == ["n1 -> n3 ipv4: blocked there -> ok", "n2 -> n3 ipv4: avg 20 -> 0.2 ms"]
    assert changes["new"] == changes["gone"] == []
    # the document kept the verdict the firewalls gave, which its figures alone could not
    assert nlm_latency_compare(previous, now)["worse"][0] == (
        "n1 -> n3 ipv4: ok -> blocked there (n3's firewall drops the echo-request in: " + DROP_IN + ")")
    with pytest.raises(AnsibleFilterError, match="rtt_ratio must be a number"):
        nlm_latency_compare(now, previous, rtt_ratio="x")
