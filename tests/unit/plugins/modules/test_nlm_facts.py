"""nlm_facts with a fake run_command and a fake pyroute2 IPRoute."""

from __future__ import annotations

import pytest

from ansible_collections.nodelatency.monitor.plugins.modules import nlm_facts


class Message(dict):
    """A netlink message as pyroute2 hands it out: header fields plus get_attr."""

    def __init__(self, attrs, **fields):
        super().__init__(fields)
        self.attrs = attrs

    def get_attr(self, name):
        return self.attrs.get(name)


class FakeIPRoute:
    links = [
        Message({"IFLA_IFNAME": "lo", "IFLA_OPERSTATE": "UNKNOWN", "IFLA_MTU": 65536}, index=1),
        Message({"IFLA_IFNAME": "eth0", "IFLA_OPERSTATE": "UP", "IFLA_MTU": 1500}, index=2),
        Message({"IFLA_IFNAME": "antrea-gw0", "IFLA_OPERSTATE": "UP", "IFLA_MTU": 1450}, index=3),
    ]
    addresses = [
        Message({"IFA_ADDRESS": "127.0.0.1", "IFA_LOCAL": "127.0.0.1"}, index=1, prefixlen=8, scope=254),
        Message({"IFA_ADDRESS": "198.18.0.1", "IFA_LOCAL": "198.18.0.1"}, index=2, prefixlen=24, scope=0),
        Message({"IFA_ADDRESS": "2001:db8::1"}, index=2, prefixlen=64, scope=0),
        Message({"IFA_ADDRESS": "198.18.1.1", "IFA_LOCAL": "198.18.1.1"}, index=3, prefixlen=24, scope=0),
        Message({"IFA_ADDRESS": "fe80::1"}, index=3, prefixlen=64, scope=253),
    ]
    default_routes = {2: [Message({"RTA_GATEWAY": "198.18.0.254", "RTA_OIF": 2}, dst_len=0)], 10: []}

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def get_links(self):
        return self.links

    def get_addr(self):
        return self.addresses

    def get_default_routes(self, family):
        return self.default_routes[family]


NFT_SAVE = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
LEGACY_SAVE = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n"


def respond(fixture_text):
    def answer(argv, data):
        name = argv[0].rsplit("/", 1)[-1]
        return 0, {
            "iptables": "iptables v1.8.9 (nf_tables)\n",
            "nft": fixture_text("iptables/nft-list-chains.json"),
            "iptables-nft-save": NFT_SAVE, "ip6tables-nft-save": "",
            "iptables-legacy-save": "", "ip6tables-legacy-save": LEGACY_SAVE,
        }[name], ""
    return answer


@pytest.fixture
def fake_pyroute2(monkeypatch):
    monkeypatch.setattr(nlm_facts, "IPRoute", FakeIPRoute)


def test_facts_of_gateway_transport_and_firewall(run_module, fake_pyroute2, fixture_text):
    run = run_module(nlm_facts.main, {}, respond=respond(fixture_text))
    assert run.argvs == [
        ["/usr/sbin/iptables", "--version"],
        ["/usr/sbin/iptables-nft-save"],
        ["/usr/sbin/ip6tables-nft-save"],
        ["/usr/sbin/iptables-legacy-save"],
        ["/usr/sbin/ip6tables-legacy-save"],
        ["/usr/sbin/nft", "-j", "list", "chains"],
    ]
    facts = run.result["ansible_facts"]["nlm"]
    assert run.result["changed"] is False
    assert facts["gateway_interface"] == {"name": "antrea-gw0", "exists": True, "index": 3, "state": "UP",
                                          "mtu": 1450, "ipv4": ["198.18.1.1/24"], "ipv6": []}
    assert facts["transport_interface"] == {"name": "eth0", "exists": True, "index": 2, "state": "UP", "mtu": 1500,
                                            "ipv4": ["198.18.0.1/24"], "ipv6": ["2001:db8::1/64"],
                                            "selected_by": "default_route", "node_ip": "198.18.0.1"}
    firewall = facts["firewall"]
    assert firewall["iptables"] == {"backend": "nft", "version": "iptables v1.8.9 (nf_tables)",
                                    "other_backend": "legacy", "other_backend_has_rules": True}
    # the fake ip6tables-nft-save prints nothing, so the ip6 filter chains count as native here
    assert [(chain["family"], chain["table"], chain["chain"]) for chain in firewall["nftables"]["base_chains"]] == [
        ("ip6", "filter", "INPUT"), ("ip6", "filter", "OUTPUT"), ("inet", "native", "input"),
        ("inet", "native", "output")]
    assert isinstance(firewall["firewalld_running"], bool)


def test_named_interfaces_that_do_not_exist_are_facts_not_failures(run_module, fake_pyroute2, fixture_text):
    run = run_module(nlm_facts.main, {"gateway_interface": "gw9", "transport_interface": "eth9"},
                     respond=respond(fixture_text))
    facts = run.result["ansible_facts"]["nlm"]
    assert facts["gateway_interface"]["exists"] is False
    assert (facts["transport_interface"]["name"], facts["transport_interface"]["exists"],
            facts["transport_interface"]["selected_by"]) == ("eth9", False, "transport_interface")


def test_no_iptables_and_no_nft_is_reported(run_module, fake_pyroute2):
    missing = {name: None for name in ("iptables", "nft", "iptables-nft-save", "ip6tables-nft-save",
                                       "iptables-legacy-save", "ip6tables-legacy-save")}
    run = run_module(nlm_facts.main, {}, binaries=missing)
    assert run.commands == []
    firewall = run.result["ansible_facts"]["nlm"]["firewall"]
    assert firewall["iptables"]["backend"] is None
    assert firewall["nftables"] == {"available": False, "base_chains": [], "has_input_output_base_chains": False}


@pytest.mark.parametrize("args,message", [
    ({"gateway_interface": "gw/0"}, "nlm_facts: interface name 'gw/0' contains '/'"),
    ({"transport_interface": "x" * 16}, "16 characters long"),
    ({"transport_interface_cidrs": ["10.0.0.0/33"]}, "is not a CIDR"),
    ({"node_ip": "node1"}, "node_ip: 'node1' is not an IP address"),
])
def test_bad_input_fails_before_anything_runs(run_module, fake_pyroute2, args, message):
    run = run_module(nlm_facts.main, args)
    assert run.failed and message in run.result["msg"]
    assert run.commands == []


def test_missing_pyroute2_looks_for_the_roles_venv_then_says_which_library(run_module, monkeypatch):
    monkeypatch.setattr(nlm_facts, "IPRoute", None)
    looked_for = []
    monkeypatch.setattr(nlm_facts, "respawn_with_library", looked_for.append)
    run = run_module(nlm_facts.main, {})
    assert looked_for == ["pyroute2"]
    assert run.failed
    assert "Failed to import the required Python library (pyroute2)" in run.result["msg"]


def test_permission_denied_says_become(run_module, fake_pyroute2):
    def denied(argv, data):
        if argv[1:] == ["--version"]:
            return 0, "iptables v1.8.9 (nf_tables)\n", ""
        return 4, "", "iptables-save v1.8.9 (nf_tables): Permission denied (you must be root)\n"
    run = run_module(nlm_facts.main, {}, respond=denied)
    assert run.failed
    assert run.result["msg"] == ("nlm_facts: iptables-nft-save failed (rc=4): "
                                 "run the task as root (become: true)")
