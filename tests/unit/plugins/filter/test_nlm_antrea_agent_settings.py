# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""antrea-agent.conf read as the Antrea agent reads it, from files shaped as Antrea's Helm
chart renders them."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.nodelatency.monitor.plugins.filter.nlm_antrea_agent_settings import nlm_antrea_agent_settings
from ansible_collections.nodelatency.monitor.tests.unit.fixtures.antrea_agent_conf import render


@pytest.mark.parametrize("gates, enabled, decided_by", [
    # the chart untouched: featureGates holds comments only (null), the alpha gate is off
    ({}, False, "the default of the alpha gate NodeLatencyMonitor"),
    ({"NodeLatencyMonitor": True}, True, "featureGates.NodeLatencyMonitor"),
    ({"NodeLatencyMonitor": False}, False, "featureGates.NodeLatencyMonitor"),
    # the global toggle of alpha gates turns it on, unless the gate itself says otherwise
    ({"AllAlpha": True}, True, "featureGates.AllAlpha"),
    ({"AllAlpha": True, "NodeLatencyMonitor": False}, False, "featureGates.NodeLatencyMonitor"),
    ({"AllAlpha": False, "NodeLatencyMonitor": True}, True, "featureGates.NodeLatencyMonitor"),
    # the gate is alpha: the beta toggle does not reach it
    ({"AllBeta": True}, False, "the default of the alpha gate NodeLatencyMonitor"),
    # YAML 1.1 booleans, which the agent's decoder takes for a boolean gate
    ({"NodeLatencyMonitor": "yes"}, True, "featureGates.NodeLatencyMonitor"),
])
def test_the_gate_follows_the_feature_gate_rules(gates, enabled, decided_by):
    settings = nlm_antrea_agent_settings(render(feature_gates=gates))
    assert (settings["node_latency_monitor"], settings["node_latency_monitor_from"]) == (enabled, decided_by)


def test_the_chart_defaults_read_as_the_agent_defaults_them():
    assert nlm_antrea_agent_settings(render()) == {
        "node_latency_monitor": False,
        "node_latency_monitor_from": "the default of the alpha gate NodeLatencyMonitor",
        "traffic_encap_mode": "encap", "host_gateway": "antrea-gw0", "transport_interface": "",
        "transport_interface_cidrs": [],
    }


def test_an_empty_configuration_is_all_defaults():
    assert nlm_antrea_agent_settings("") == nlm_antrea_agent_settings(render()) == nlm_antrea_agent_settings({})


@pytest.mark.parametrize("written, mode", [
    ("NoEncap", "noEncap"), ("networkpolicyonly", "networkPolicyOnly"), ("HYBRID", "hybrid"), ("", "encap"),
])
def test_the_traffic_mode_is_matched_ignoring_case(written, mode):
    assert nlm_antrea_agent_settings(render(traffic_encap_mode=written))["traffic_encap_mode"] == mode


def test_the_gateway_and_transport_settings_are_read():
    settings = nlm_antrea_agent_settings(render(host_gateway="gw0", transport_interface="eth1",
                                                transport_interface_cidrs=["198.18.0.0/24", "2001:db8::/64"]))
    assert settings["host_gateway"] == "gw0"
    assert settings["transport_interface"] == "eth1"
    assert settings["transport_interface_cidrs"] == ["198.18.0.0/24", "2001:db8::/64"]
    # hostGateway "" is the agent's default name
    assert nlm_antrea_agent_settings(render(host_gateway=""))["host_gateway"] == "antrea-gw0"


def test_a_parsed_configuration_reads_as_its_text():
    conf = {"featureGates": {"NodeLatencyMonitor": True}, "trafficEncapMode": "hybrid"}
    assert nlm_antrea_agent_settings(conf)["node_latency_monitor"] is True
    assert nlm_antrea_agent_settings(conf)["traffic_encap_mode"] == "hybrid"


@pytest.mark.parametrize("conf, message", [
    # a quoted value is a string: the agent refuses to start on it
    (render(feature_gates={"NodeLatencyMonitor": '"true"'}), "featureGates.NodeLatencyMonitor is 'true'"),
    (render(feature_gates={"AllAlpha": "1"}), "featureGates.AllAlpha is 1"),
    (render(traffic_encap_mode="tunnel"), "trafficEncapMode 'tunnel' is not one of"),
    ("featureGates: [NodeLatencyMonitor]\n", "featureGates must be a mapping"),
    ("- a list\n", "must be a YAML mapping"),
    ("featureGates: {NodeLatencyMonitor: true\n", "not valid YAML"),
    ("transportInterfaceCIDRs: 198.18.0.0/24\n", "transportInterfaceCIDRs must be a list"),
    ("hostGateway: [gw0]\n", "hostGateway must be a string"),
])
def test_what_the_agent_would_refuse_fails_with_what_to_fix(conf, message):
    with pytest.raises(AnsibleFilterError, match="nlm_antrea_agent_settings: .*" + message.replace("[", r"\[")):
        nlm_antrea_agent_settings(conf)
