# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.nodelatency.monitor.plugins.filter.nlm_latency_matrix import FilterModule, nlm_latency_matrix


def test_filter_module_exports_the_filter():
    assert FilterModule().filters() == {"nlm_latency_matrix": nlm_latency_matrix}


def test_every_pair_has_the_status_its_replies_give(dual_stack_facts):
    matrix = nlm_latency_matrix(dual_stack_facts, hosts=["n1", "n2", "n3", "n4"])

    assert matrix["kind"] == "NlmLatencyMatrix"
    assert matrix["nodes"] == ["n1", "n2", "n3", "n4"]
    assert matrix["families"] == ["ipv4", "ipv6"]
    assert sorted(matrix["probes"]) == ["n1", "n2", "n3"]
    statuses = {(family, source, target): cell["status"]
                for family, by_source in matrix["matrix"].items()
                for source, by_target in by_source.items() for target, cell in by_target.items()}
    assert statuses[("ipv4", "n1", "n2")] == "ok"
    assert statuses[("ipv4", "n1", "n3")] == "lossy"
    assert statuses[("ipv4", "n3", "n2")] == "down"
    assert statuses[("ipv6", "n2", "n3")] == "error"
    assert statuses[("ipv4", "n2", "n3")] == "ok"
    assert {statuses[("ipv4", "n4", target)] for target in ("n1", "n2", "n3")} == {"missing"}
    assert ("ipv4", "n1", "n1") not in statuses
    assert len(statuses) == 2 * 4 * 3
    # Three sources, three peers each, two families.
    assert len(matrix["pairs"]) == 3 * 3 * 2


def test_a_cell_carries_the_probe_figures(dual_stack_facts):
    cell = nlm_latency_matrix(dual_stack_facts)["matrix"]["ipv4"]["n1"]["n3"]

    assert cell["address"] == "198.18.0.3"
    assert (cell["sent"], cell["received"], cell["loss"]) == (5, 3, 0.4)
    assert cell["rtts_ms"] == [0.42, 0.424, 0.428]
    assert cell["last_rtt_ms"] == 0.428
    assert cell["avg_rtt_ms"] == 0.424
    assert cell["last_recv_time"] == "2026-11-25T22:50:04.000520Z"


def test_the_matrix_survives_json(dual_stack_facts):
    matrix = nlm_latency_matrix(dual_stack_facts)
    assert json.loads(json.dumps(matrix)) == matrix


def test_a_matrix_goes_through_unchanged(dual_stack_facts):
    matrix = nlm_latency_matrix(dual_stack_facts)
    assert nlm_latency_matrix(matrix) is matrix


def test_hostvars_are_read_for_the_hosts_asked_for(dual_stack_facts):
    hostvars = {fact["source"]: {"nlm_latency": fact, "ansible_host": "x"} for fact in dual_stack_facts}
    hostvars["n4"] = {"ansible_host": "y"}
    hostvars["other"] = {"nlm_latency": None}

    matrix = nlm_latency_matrix(hostvars, hosts=["n1", "n4"])

    assert list(matrix["probes"]) == ["n1"]
    # n2 and n3 are n1's peers, n4 was asked for.
    assert matrix["nodes"] == ["n1", "n2", "n3", "n4"]
    assert matrix["matrix"]["ipv4"]["n2"]["n1"]["status"] == "missing"


def test_hostvars_facts_are_read_under_ansible_facts_first(dual_stack_facts):
    first, second = dual_stack_facts[0], dual_stack_facts[1]
    stale = dict(first, peers=[])
    hostvars = {first["source"]: {"ansible_facts": {"nlm_latency": first}, "nlm_latency": stale},
                second["source"]: {"ansible_facts": {"nlm_latency": None}, "nlm_latency": second},
                "n9": {"ansible_facts": {}}}

    matrix = nlm_latency_matrix(hostvars)

    assert list(matrix["probes"]) == [first["source"], second["source"]]
    assert matrix == nlm_latency_matrix([first, second])


def test_one_fact_is_enough(real_fact):
    matrix = nlm_latency_matrix(real_fact)
    assert list(matrix["probes"]) == ["n1"]
    assert matrix["nodes"] == ["bogus", "n1", "n2", "n3"]


def test_a_target_that_is_no_address_is_a_pair_without_cell(real_fact):
    matrix = nlm_latency_matrix(real_fact)

    bogus = [pair for pair in matrix["pairs"] if pair["target"] == "bogus"]
    assert [(pair["family"], pair["status"]) for pair in bogus] == [(None, "error")]
    assert {cell["status"] for cell in (matrix["matrix"]["ipv4"]["n1"]["bogus"],
                                        matrix["matrix"]["ipv6"]["n1"]["bogus"])} == {"missing"}


def test_nodes_sort_naturally():
    facts = [{"source": name, "peers": []} for name in ("n10", "n2", "n1")]
    assert nlm_latency_matrix(facts)["nodes"] == ["n1", "n2", "n10"]


def test_the_worst_address_of_a_family_fills_the_cell(dual_stack_facts):
    fact = dual_stack_facts[0]
    good = dict(fact["peers"][0]["targets"][0], address="198.18.7.7")
    fact["peers"][0]["targets"].insert(0, dict(good, received=0, loss=1.0, rtts_ms=[], avg_rtt_ms=None,
                                               address="198.18.9.9"))
    fact["peers"][0]["targets"].append(good)

    matrix = nlm_latency_matrix(dual_stack_facts)

    assert matrix["matrix"]["ipv4"]["n1"]["n2"]["address"] == "198.18.9.9"
    assert len([pair for pair in matrix["pairs"] if (pair["source"], pair["target"]) == ("n1", "n2")]) == 4


def test_leaving_out_optional_figures_reads_as_null():
    fact = {"source": "a", "peers": [{"name": "b", "targets": [
        {"address": "198.18.0.2", "family": "ipv4", "sent": 1, "received": 0, "loss": 1.0}]}]}
    cell = nlm_latency_matrix(fact)["matrix"]["ipv4"]["a"]["b"]
    assert (cell["status"], cell["avg_rtt_ms"], cell["rtts_ms"], cell["error"]) == ("down", None, [], None)


@pytest.mark.parametrize(("data", "message"), [
    ("text", "nlm_latency_matrix: expected hostvars, a list of nlm_latency facts, one nlm_latency fact, NodeLatencyStats or a matrix, got str"),
    ([{"peers": []}], "nlm_latency_matrix: item 0: missing source"),
    ({"h": {"nlm_latency": {"source": "h", "peers": [{"name": "p"}]}}},
     "nlm_latency_matrix: nlm_latency of host h: peers[0]: missing targets"),
    ([{"source": "h", "peers": [{"name": "p", "targets": [{"address": "x", "family": "ipv5", "sent": 1,
                                                          "received": 1, "loss": 0.0}]}]}],
     "nlm_latency_matrix: item 0: peers[0].targets[0]: family must be ipv4, ipv6 or null, got 'ipv5'"),
    ([{"source": "h", "peers": [{"name": "p", "targets": [{"address": "x"}]}]}],
     "nlm_latency_matrix: item 0: peers[0].targets[0]: missing family, sent, received, loss"),
    ([{"source": "h", "peers": ["p"]}], "nlm_latency_matrix: item 0: peers[0]: expected a mapping, got str"),
    ([{"source": "h", "peers": [{"name": "p", "targets": [{"address": "x", "family": "ipv4", "sent": "three",
                                                          "received": 1, "loss": 0.0}]}]}],
     "nlm_latency_matrix: item 0: peers[0].targets[0]: not a number where one belongs "
     "(invalid literal for int() with base 10: 'three')"),
    ([{"source": "h", "peers": []}, {"source": "h", "peers": []}],
     "nlm_latency_matrix: item 1: a second fact for source h"),
])
def test_bad_input_is_named(data, message):
    with pytest.raises(AnsibleFilterError) as error:
        nlm_latency_matrix(data)
    assert error.value.message == message


def test_hosts_must_be_a_list(dual_stack_facts):
    with pytest.raises(AnsibleFilterError, match="hosts must be a list of host names, got str"):
        nlm_latency_matrix(dual_stack_facts, hosts="n1")


def test_a_compact_result_gives_the_same_cells_without_rtts_and_times(dual_stack_facts, real_fact):
    from ansible_collections.nodelatency.monitor.tests.unit.fixtures.reports.synthetic import PER_REQUEST_KEYS, compact
    for facts in (dual_stack_facts, [real_fact]):
        full, small = nlm_latency_matrix(facts), nlm_latency_matrix([compact(fact) for fact in facts])
        assert len(small["pairs"]) == len(full["pairs"])
        for ours, theirs in zip(small["pairs"], full["pairs"]):
            assert (ours["rtts_ms"], ours["last_send_time"], ours["last_recv_time"]) == ([], None, None)
            assert dict((key, value) for key, value in ours.items() if key not in PER_REQUEST_KEYS) == dict(
                (key, value) for key, value in theirs.items() if key not in PER_REQUEST_KEYS)
    cell = nlm_latency_matrix([compact(fact) for fact in dual_stack_facts])["matrix"]["ipv4"]["n1"]["n3"]
    assert (cell["last_rtt_ms"], cell["status"]) == (0.428, "lossy")
