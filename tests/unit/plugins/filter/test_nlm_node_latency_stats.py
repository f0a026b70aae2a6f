# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import json

from ansible_collections.nodelatency.monitor.plugins.filter.nlm_node_latency_stats import (
    FilterModule,
    nlm_node_latency_stats,
)

ANTREA_TARGET_KEYS = {"targetIP", "lastSendTime", "lastRecvTime", "lastMeasuredRTTNanoseconds"}
OUR_TARGET_KEYS = {
    "family", "status", "sent", "received", "lossRatio", "minRTTNanoseconds", "avgRTTNanoseconds",
    "maxRTTNanoseconds", "medianRTTNanoseconds", "stddevRTTNanoseconds", "jitterNanoseconds", "rttsNanoseconds",
    "p50RTTNanoseconds", "p95RTTNanoseconds", "p99RTTNanoseconds",
    "duplicates", "late", "error", "verdict", "verdictReason",
}


def test_filter_module_exports_the_filter():
    assert FilterModule().filters() == {"nlm_node_latency_stats": nlm_node_latency_stats}


def test_one_document_per_reporting_node_in_antrea_shape(dual_stack_facts):
    # Written and read back as the role writes it: one JSON file per run.
    stats = json.loads(json.dumps(nlm_node_latency_stats(dual_stack_facts, hosts=["n1", "n2", "n3", "n4"])))

    assert (stats["apiVersion"], stats["kind"]) == ("stats.antrea.io/v1alpha1", "NodeLatencyStatsList")
    assert [item["metadata"]["name"] for item in stats["items"]] == ["n1", "n2", "n3"]
    for item in stats["items"]:
        assert (item["apiVersion"], item["kind"]) == ("stats.antrea.io/v1alpha1", "NodeLatencyStats")
        assert item["metadata"]["creationTimestamp"] == "2026-11-25T22:50:00.000000Z"
        assert [peer["nodeName"] for peer in item["peerNodeLatencyStats"]] == [
            node for node in ("n1", "n2", "n3", "n4") if node != item["metadata"]["name"]]
        for peer in item["peerNodeLatencyStats"]:
            assert len(peer["targetIPLatencyStats"]) == 2
            for target in peer["targetIPLatencyStats"]:
                assert set(target) - {"lastMeasuredRTTNanoseconds"} == ANTREA_TARGET_KEYS - {
                    "lastMeasuredRTTNanoseconds"} | OUR_TARGET_KEYS
    assert stats["items"][0]["probe"] == {
        "started": "2026-11-25T22:50:00.000000Z", "durationSeconds": 4.5,
        "settings": {"count": 5, "interval": 1.0, "timeout": 1.0, "payload_size": 56, "privileged": True,
                     "interface": None, "source": None}}


def test_target_figures_in_nanoseconds(dual_stack_facts):
    stats = nlm_node_latency_stats(dual_stack_facts)
    n1 = stats["items"][0]
    (to_n3,) = [peer for peer in n1["peerNodeLatencyStats"] if peer["nodeName"] == "n3"]

    assert to_n3["targetIPLatencyStats"][0] == {
        "targetIP": "198.18.0.3",
        "lastSendTime": "2026-11-25T22:50:04.000020Z",
        "lastRecvTime": "2026-11-25T22:50:04.000520Z",
        "lastMeasuredRTTNanoseconds": 428000,
        "family": "ipv4", "status": "lossy", "verdict": "lossy", "verdictReason": "2 of 5 replies lost",
        "sent": 5, "received": 3, "lossRatio": 0.4,
        "minRTTNanoseconds": 420000, "avgRTTNanoseconds": 424000, "maxRTTNanoseconds": 428000,
        "medianRTTNanoseconds": None, "stddevRTTNanoseconds": 3266, "jitterNanoseconds": 4000,
        "p50RTTNanoseconds": None, "p95RTTNanoseconds": None, "p99RTTNanoseconds": None,
        "rttsNanoseconds": [420000, 424000, 428000], "duplicates": 0, "late": 0, "error": None,
    }


def test_no_reply_leaves_the_last_rtt_out_as_antrea_does(real_fact):
    stats = nlm_node_latency_stats(real_fact)
    (to_n3,) = [peer for peer in stats["items"][0]["peerNodeLatencyStats"] if peer["nodeName"] == "n3"]
    target = to_n3["targetIPLatencyStats"][0]

    assert "lastMeasuredRTTNanoseconds" not in target
    assert (target["lastRecvTime"], target["status"]) == (None, "error")
    assert target["error"] == "destination unreachable (host unreachable) from 198.18.0.1"


def test_addresses_of_one_peer_are_one_entry(real_fact):
    """The probe may list a peer once per address; Antrea has one entry per peer."""
    stats = nlm_node_latency_stats(real_fact)
    peers = stats["items"][0]["peerNodeLatencyStats"]

    assert [peer["nodeName"] for peer in peers] == ["bogus", "n2", "n3"]
    assert [target["targetIP"] for target in peers[1]["targetIPLatencyStats"]] == ["198.18.0.2", "2001:db8::2"]


def comparable(matrix):
    """A matrix's pairs with times rounded to what nanoseconds keep."""
    def rounded(value):
        return round(value, 6) if isinstance(value, float) else value
    return [dict((key, [rounded(rtt) for rtt in value] if isinstance(value, list) else rounded(value))
                 for key, value in pair.items()) for pair in matrix["pairs"]]


def test_the_reports_read_their_own_documents_back_whole(dual_stack_facts, real_fact):
    from ansible_collections.nodelatency.monitor.plugins.filter.nlm_latency_matrix import nlm_latency_matrix
    for facts, hosts in ((dual_stack_facts, ["n1", "n2", "n3", "n4"]), ([real_fact], None)):
        stats = json.loads(json.dumps(nlm_node_latency_stats(facts, hosts=hosts)))
        direct, read_back = nlm_latency_matrix(facts, hosts=hosts), nlm_latency_matrix(stats, hosts=hosts)
        assert comparable(read_back) == comparable(direct)
        assert read_back["nodes"] == direct["nodes"] and read_back["probes"].keys() == direct["probes"].keys()
        # one document alone, as the agent writes it on its node
        one = stats["items"][0]
        assert nlm_latency_matrix(one)["probes"].keys() == {one["metadata"]["name"]}


ANTREA_STATS = {
    "apiVersion": "stats.antrea.io/v1alpha1", "kind": "NodeLatencyStats",
    "metadata": {"name": "kind-worker", "creationTimestamp": "2026-12-01T10:00:00Z"},
    "peerNodeLatencyStats": [
        {"nodeName": "kind-worker2", "targetIPLatencyStats": [
            {"targetIP": "10.10.1.1", "lastSendTime": "2026-12-01T10:00:50Z", "lastRecvTime": "2026-12-01T10:00:50Z",
             "lastMeasuredRTTNanoseconds": 300000},
            {"targetIP": "fd00:10:244:1::1", "lastSendTime": "2026-12-01T10:00:50Z",
             "lastRecvTime": "2026-12-01T09:59:50Z", "lastMeasuredRTTNanoseconds": 250000}]}],
}


def test_antreas_own_stats_count_the_last_request_answered_or_not():
    from ansible_collections.nodelatency.monitor.plugins.filter.nlm_latency_matrix import nlm_latency_matrix
    matrix = nlm_latency_matrix(ANTREA_STATS)
    pairs = dict((pair["family"], pair) for pair in matrix["pairs"])
    assert (pairs["ipv4"]["status"], pairs["ipv4"]["last_rtt_ms"], pairs["ipv4"]["sent"]) == ("ok", 0.3, 1)
    # the last reply came before the last request: that request is still unanswered
    assert (pairs["ipv6"]["status"], pairs["ipv6"]["received"], pairs["ipv6"]["loss"]) == ("down", 0, 1.0)


def test_a_broken_document_says_where():
    import pytest
    from ansible.errors import AnsibleFilterError
    from ansible_collections.nodelatency.monitor.plugins.filter.nlm_latency_matrix import nlm_latency_matrix
    with pytest.raises(AnsibleFilterError, match="not a NodeLatencyStats document"):
        nlm_latency_matrix({"kind": "NodeLatencyStats", "metadata": {}})


def test_the_agents_document_is_the_reports_item_without_the_matrix(dual_stack_facts, real_fact):
    from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_stats import (
        node_latency_document, node_latency_document_json)
    for fact in [real_fact] + dual_stack_facts[:3]:
        assert node_latency_document(fact) == nlm_node_latency_stats(fact)["items"][0]
        # to the byte: an int where the report has a float would still compare equal
        assert json.dumps(node_latency_document(fact)) == json.dumps(nlm_node_latency_stats(fact)["items"][0])
        assert json.loads(node_latency_document_json(fact)) == node_latency_document(fact)


def test_a_compact_result_stamps_the_targets_with_the_runs_end(dual_stack_facts):
    from ansible_collections.nodelatency.monitor.tests.unit.fixtures.reports.synthetic import compact
    full = nlm_node_latency_stats(dual_stack_facts)
    small = json.loads(json.dumps(nlm_node_latency_stats([compact(fact) for fact in dual_stack_facts])))
    # started 22:50:00, 4.5 s long
    ended = "2026-11-25T22:50:04.500000Z"
    for full_item, item in zip(full["items"], small["items"]):
        for full_peer, peer in zip(full_item["peerNodeLatencyStats"], item["peerNodeLatencyStats"]):
            for full_target, target in zip(full_peer["targetIPLatencyStats"], peer["targetIPLatencyStats"]):
                assert target["lastSendTime"] == (ended if target["sent"] else None)
                assert target["lastRecvTime"] == (ended if target["received"] else None)
                assert target.get("lastMeasuredRTTNanoseconds") == full_target.get("lastMeasuredRTTNanoseconds")
                assert target["rttsNanoseconds"] == []
                assert dict(target, lastSendTime=None, lastRecvTime=None, rttsNanoseconds=None) == dict(
                    full_target, lastSendTime=None, lastRecvTime=None, rttsNanoseconds=None)
    (to_n3,) = [peer for peer in small["items"][0]["peerNodeLatencyStats"] if peer["nodeName"] == "n3"]
    assert to_n3["targetIPLatencyStats"][0]["lastMeasuredRTTNanoseconds"] == 428000


def test_a_run_end_in_another_offset_or_unknown():
    from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_stats import run_end
    assert run_end("2026-11-25T23:59:59.900000+01:00", 0.2) == "2026-11-25T23:00:00.100000Z"
    assert run_end("2026-11-25T22:50:00Z", 0) == "2026-11-25T22:50:00.000000Z"
    assert run_end(None, 1.0) is None
    assert run_end("2026-11-25T22:50:00Z", None) is None


def test_compact_documents_read_back_as_they_were_written(dual_stack_facts, real_fact):
    from ansible_collections.nodelatency.monitor.plugins.filter.nlm_latency_matrix import nlm_latency_matrix
    from ansible_collections.nodelatency.monitor.tests.unit.fixtures.reports.synthetic import compact
    for facts, hosts in ((dual_stack_facts, ["n1", "n2", "n3", "n4"]), ([real_fact], None)):
        facts = [compact(fact) for fact in facts]
        stats = json.loads(json.dumps(nlm_node_latency_stats(facts, hosts=hosts)))
        direct, read_back = nlm_latency_matrix(facts, hosts=hosts), nlm_latency_matrix(stats, hosts=hosts)
        for ours, theirs in zip(comparable(read_back), comparable(direct)):
            # the document stands the run's end in for the time stamps the probe left out
            ended = run_end_of(direct, ours["source"])
            assert ours["last_send_time"] == (ended if ours["sent"] else None)
            assert ours["last_recv_time"] == (ended if ours["received"] else None)
            assert dict(ours, last_send_time=None, last_recv_time=None) == dict(
                theirs, last_send_time=None, last_recv_time=None)
        # and a second time through changes nothing more
        again = json.loads(json.dumps(nlm_node_latency_stats(read_back, hosts=hosts)))
        assert again == stats


def run_end_of(matrix, source):
    from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_stats import run_end
    probe = matrix["probes"][source]
    return run_end(probe["started"], probe["duration_seconds"])


def test_the_agents_document_of_a_compact_result_is_the_reports_item(dual_stack_facts, real_fact):
    from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_stats import node_latency_document
    from ansible_collections.nodelatency.monitor.tests.unit.fixtures.reports.synthetic import compact
    for fact in [compact(real_fact)] + [compact(fact) for fact in dual_stack_facts[:3]]:
        assert json.dumps(node_latency_document(fact)) == json.dumps(nlm_node_latency_stats(fact)["items"][0])


def test_the_agents_document_converts_any_figure_as_the_report_does(real_fact):
    import copy
    from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_stats import node_latency_document
    fact = copy.deepcopy(real_fact)
    target = fact["peers"][0]["targets"][0]
    # a missing figure before given ones, whole milliseconds as ints, and a half nanosecond
    target.update({"jitter_ms": None, "p50_rtt_ms": 0.05, "p95_rtt_ms": 0.0000005, "max_rtt_ms": 2,
                   "rtts_ms": [1, 0.0000015, 2]})
    document = node_latency_document(fact)
    assert json.dumps(document) == json.dumps(nlm_node_latency_stats(fact)["items"][0])
    (converted,) = [stats for peer in document["peerNodeLatencyStats"] for stats in peer["targetIPLatencyStats"]
                    if stats["targetIP"] == target["address"]]
    assert (converted["jitterNanoseconds"], converted["p50RTTNanoseconds"], converted["p95RTTNanoseconds"]) == (None, 50000, 0)
    assert (converted["maxRTTNanoseconds"], converted["rttsNanoseconds"]) == (2000000, [1000000, 2, 2000000])
