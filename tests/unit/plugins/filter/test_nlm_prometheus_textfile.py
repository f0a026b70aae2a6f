# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.nodelatency.monitor.plugins.filter.nlm_prometheus_textfile import (
    FilterModule,
    nlm_prometheus_textfile,
)

PAIR_METRICS = {
    "nlm_rtt_seconds", "nlm_probe_loss_ratio", "nlm_probe_requests_sent", "nlm_probe_replies_received",
    "nlm_probe_success", "nlm_probe_last_send_timestamp_seconds", "nlm_probe_last_recv_timestamp_seconds",
    "nlm_probe_verdict",
}
RUN_METRICS = {"nlm_probe_run_timestamp_seconds", "nlm_probe_run_duration_seconds"}


def parse(text):
    """{metric name: (family, {frozenset of labels: value})} as Prometheus' own parser reads it."""
    families = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = (family, {frozenset(sample.labels.items()): sample.value for sample in family.samples})
    return families


def labels(**values):
    return frozenset(values.items())


def test_filter_module_exports_the_filter():
    assert FilterModule().filters() == {"nlm_prometheus_textfile": nlm_prometheus_textfile}


def test_one_node_parses_with_help_type_and_units(dual_stack_facts):
    text = nlm_prometheus_textfile(dual_stack_facts, node="n1")
    metrics = parse(text)

    assert text.endswith("\n")
    assert set(metrics) == PAIR_METRICS | RUN_METRICS
    for family, samples in metrics.values():
        assert family.type == "gauge"
        assert family.documentation
        assert {dict(key)["source_node"] for key in samples} == {"n1"}
    rtt = metrics["nlm_rtt_seconds"][1]
    to_n3 = dict(source_node="n1", target_node="n3", target_ip="198.18.0.3", family="ipv4")
    assert rtt[labels(stat="avg", **to_n3)] == 0.000424
    assert rtt[labels(stat="last", **to_n3)] == 0.000428
    assert rtt[labels(stat="min", **to_n3)] == 0.00042
    assert rtt[labels(stat="jitter", **to_n3)] == 0.000004
    # Three peers, two families, six statistics (median is not in these facts).
    assert len(rtt) == 3 * 2 * 6
    assert metrics["nlm_probe_loss_ratio"][1][labels(**to_n3)] == 0.4
    assert metrics["nlm_probe_requests_sent"][1][labels(**to_n3)] == 5
    assert metrics["nlm_probe_replies_received"][1][labels(**to_n3)] == 3
    assert metrics["nlm_probe_success"][1][labels(**to_n3)] == 1
    assert metrics["nlm_probe_verdict"][1][labels(verdict="lossy", **to_n3)] == 1
    assert metrics["nlm_probe_last_recv_timestamp_seconds"][1][labels(**to_n3)] == 1795647004.00052
    assert metrics["nlm_probe_run_timestamp_seconds"][1] == {labels(source_node="n1"): 1795647000.0}
    assert metrics["nlm_probe_run_duration_seconds"][1] == {labels(source_node="n1"): 4.5}


def test_pairs_without_replies_have_no_rtt_and_fail(dual_stack_facts):
    metrics = parse(nlm_prometheus_textfile(dual_stack_facts, node="n3"))

    to_n2 = dict(source_node="n3", target_node="n2", target_ip="198.18.0.2", family="ipv4")
    assert not [key for key in metrics["nlm_rtt_seconds"][1] if dict(key)["target_node"] == "n2"]
    assert metrics["nlm_probe_success"][1][labels(**to_n2)] == 0
    assert metrics["nlm_probe_loss_ratio"][1][labels(**to_n2)] == 1.0
    assert labels(**to_n2) not in metrics["nlm_probe_last_recv_timestamp_seconds"][1]
    # one series per pair, labelled with its one verdict
    assert [dict(key)["verdict"] for key in metrics["nlm_probe_verdict"][1] if dict(key)["target_node"] == "n2"] == [
        "no reply", "no reply"]


def test_every_node_by_default_and_median_when_measured(real_fact, dual_stack_facts):
    everyone = parse(nlm_prometheus_textfile(dual_stack_facts))
    assert {dict(key)["source_node"] for key in everyone["nlm_probe_run_timestamp_seconds"][1]} == {"n1", "n2", "n3"}

    real = parse(nlm_prometheus_textfile(real_fact))
    assert real["nlm_rtt_seconds"][1][labels(source_node="n1", target_node="n2", target_ip="2001:db8::2",
                                             family="ipv6", stat="median")] == 0.000024397
    # A target that is not an address keeps an empty family label.
    bogus = labels(source_node="n1", target_node="bogus", target_ip="not-an-ip", family="")
    assert real["nlm_probe_success"][1][bogus] == 0


def test_a_node_without_facts_gets_no_samples(dual_stack_facts):
    metrics = parse(nlm_prometheus_textfile(dual_stack_facts, node="n4"))
    assert set(metrics) == PAIR_METRICS | RUN_METRICS
    assert all(not samples for _family, samples in metrics.values())


def test_label_values_from_the_inventory_are_escaped(dual_stack_facts):
    awkward = 'n1 "quoted" back\\slash\nnewline'
    dual_stack_facts[0]["source"] = awkward

    metrics = parse(nlm_prometheus_textfile(dual_stack_facts, node=awkward))

    assert {dict(key)["source_node"] for key in metrics["nlm_probe_loss_ratio"][1]} == {awkward}


def test_node_must_be_a_name(dual_stack_facts):
    with pytest.raises(AnsibleFilterError, match="node must be a host name, got list"):
        nlm_prometheus_textfile(dual_stack_facts, node=["n1"])


def test_a_compact_result_has_the_last_rtt_and_no_time_stamps(dual_stack_facts):
    from ansible_collections.nodelatency.monitor.tests.unit.fixtures.reports.synthetic import compact
    metrics = parse(nlm_prometheus_textfile([compact(fact) for fact in dual_stack_facts], node="n1"))
    to_n3 = dict(source_node="n1", target_node="n3", target_ip="198.18.0.3", family="ipv4")
    assert metrics["nlm_rtt_seconds"][1][labels(stat="last", **to_n3)] == 0.000428
    # not measured, so no sample: the run's start and duration say when it was
    assert not metrics["nlm_probe_last_send_timestamp_seconds"][1]
    assert not metrics["nlm_probe_last_recv_timestamp_seconds"][1]
    assert metrics["nlm_probe_run_timestamp_seconds"][1] == {labels(source_node="n1"): 1795647000.0}
