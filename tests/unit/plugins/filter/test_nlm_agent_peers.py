"""The agent's peers file from the inventory: the probe module's address resolution, and
a file the agent itself accepts."""

from __future__ import annotations

import json
import socket

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.nodelatency.monitor.plugins.filter.nlm_agent_peers import nlm_agent_peers
from ansible_collections.nodelatency.monitor.plugins.module_utils import _agent
from ansible_collections.nodelatency.monitor.plugins.plugin_utils import _peer_addresses

HOSTVARS = {
    "n1": {"nlm_traffic_mode": "encap", "nlm_gateway_ipv4": "198.19.1.1", "nlm_gateway_ipv6": "2001:db8:1:1::1"},
    # what nlm_facts reports on a node whose inventory names no address
    "n2": {"ansible_facts": {"nlm": {"gateway_interface": {"ipv4": ["198.19.2.1/24"],
                                                           "ipv6": ["2001:db8:1:2::1/64"]}}}},
    "n3": {"nlm_probe_address": "198.18.0.13"},
    "n4": {},
}


@pytest.fixture(autouse=True)
def resolver(monkeypatch):
    """The controller's resolver knows node5 only."""
    def getaddrinfo(name, port, type=0):  # pylint: disable=redefined-builtin
        if name != "node5.example.org":
            raise socket.gaierror(-2, "Name or service not known")
        return [(socket.AF_INET, type, 0, "", ("198.18.0.15", 0))]
    monkeypatch.setattr(_peer_addresses.socket, "getaddrinfo", getaddrinfo)


def test_a_host_known_by_name_only_is_resolved_on_the_controller():
    content = nlm_agent_peers(dict(HOSTVARS, n5={"ansible_host": "node5.example.org"}), source="n1",
                              hosts=["n1", "n4", "n5"])
    assert content["peers"] == [{"name": "n5", "address": ["198.18.0.15"]}]
    assert content["unresolved"] == ["n4"]


def test_every_other_host_with_the_addresses_the_probe_module_would_use():
    content = nlm_agent_peers(HOSTVARS, source="n1", hosts=list(HOSTVARS), settings={"interval": 30, "max_peers": 2})
    assert content["peers"] == [{"name": "n2", "address": ["198.19.2.1", "2001:db8:1:2::1"]},
                                {"name": "n3", "address": ["198.18.0.13"]}]
    assert content["unresolved"] == ["n4"]
    settings = _agent.parse_peers_file(json.dumps(content))
    assert settings["source"] == "n1" and settings["interval"] == 30.0 and settings["max_peers"] == 2
    assert settings["peers"] == content["peers"]


def test_one_family_only():
    content = nlm_agent_peers(HOSTVARS, source="n2", hosts=["n1", "n2"], ip_versions=["ipv6"])
    assert content["peers"] == [{"name": "n1", "address": ["2001:db8:1:1::1"]}]


@pytest.mark.parametrize("kwargs, message", [
    ({"source": "", "hosts": ["n1"]}, "source must be"),
    ({"source": "n1", "hosts": "n1"}, "hosts must be a list"),
    ({"source": "n1", "hosts": ["n1"], "ip_versions": ["ipv5"]}, "ip_versions must be"),
    ({"source": "n1", "hosts": ["n1"], "settings": {"intervall": 5}}, "unknown settings intervall"),
])
def test_bad_arguments_say_what_is_expected(kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        nlm_agent_peers(HOSTVARS, **kwargs)
