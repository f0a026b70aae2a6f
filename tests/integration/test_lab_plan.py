"""The lab's plan without building it: addresses, delay parsing, rendered rules.
These need neither root nor namespaces; the other test_lab* files prove the plan on the kernel."""

from __future__ import annotations

import ipaddress

import pytest

import nlmlab


def test_addresses_of_the_first_and_last_possible_node():
    first = nlmlab.plan_node("nlm", 1, 0)
    assert (first.netns, first.transport_ipv4, first.transport_ipv6) == ("nlm-n1", "198.18.0.11", "2001:db8::b")
    assert (first.pod_cidr_ipv4, first.gateway_ipv4) == ("198.19.1.0/24", "198.19.1.1")
    assert (first.pod_cidr_ipv6, first.gateway_ipv6) == ("2001:db8:1:1::/64", "2001:db8:1:1::1")
    assert first.gateway_mac == "02:4e:4c:00:00:01"
    last = nlmlab.plan_node("nlm", nlmlab.MAX_NODES, 1)
    assert (last.transport_ipv4, last.transport_ipv6) == ("198.18.1.250", "2001:db8:0:1::fa")
    assert (last.pod_cidr_ipv4, last.pod_cidr_ipv6) == ("198.19.240.0/24", "2001:db8:1:f0::/64")


def test_every_address_of_a_full_lab_is_unique_and_in_the_test_ranges():
    lab = nlmlab.Lab(name="plan", nodes=nlmlab.MAX_NODES, mode="hybrid")
    allowed = [ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("2001:db8::/32")]
    addresses = [getattr(node, field) for node in lab.nodes
                 for field in ("transport_ipv4", "transport_ipv6", "gateway_ipv4", "gateway_ipv6")]
    assert len(set(addresses)) == len(addresses)
    assert all(any(ipaddress.ip_address(address) in network for network in allowed) for address in addresses)
    assert len({node.gateway_mac for node in lab.nodes}) == nlmlab.MAX_NODES
    assert [node.subnet for node in lab.nodes] == [0] * 120 + [1] * 120


def test_hybrid_splits_an_odd_number_of_nodes_with_the_larger_half_first():
    lab = nlmlab.Lab(name="plan", nodes=3, mode="hybrid")
    assert [node.subnet for node in lab.nodes] == [0, 0, 1]
    assert [lab.is_encap_peer(lab.node("n1"), peer) for peer in lab.nodes[1:]] == [False, True]


def test_delay_spec_is_per_link_and_order_free():
    assert nlmlab.parse_delay(" n2-n1=20ms, n3-n1=0.5ms ,", {"n1", "n2", "n3"}) == {("n1", "n2"): 20.0, ("n1", "n3"): 0.5}
    assert nlmlab.parse_delay("", {"n1"}) == {}


def test_hardened_iptables_rules_drop_echo_by_policy_and_keep_neighbour_discovery():
    assert nlmlab.render_iptables("iptables-legacy", 6) == (
        "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n"
        "-A INPUT -i lo -j ACCEPT\n-A INPUT -p tcp -j ACCEPT\n-A INPUT -p udp -j ACCEPT\n"
        + "".join(f"-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type {t} -j ACCEPT\n" for t in (1, 2, 3, 4, 133, 134, 135, 136))
        + "-A OUTPUT -o lo -j ACCEPT\n-A OUTPUT -p tcp -j ACCEPT\n-A OUTPUT -p udp -j ACCEPT\n"
        + "".join(f"-A OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type {t} -j ACCEPT\n" for t in (1, 2, 3, 4, 133, 134, 135, 136))
        + "COMMIT\n")


def test_reject_tail_closes_input_and_output_with_reject():
    rules = nlmlab.render_iptables("reject-tail", 4).splitlines()
    assert rules[1:4] == [":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
    input_rules = [rule for rule in rules if rule.startswith("-A INPUT")]
    output_rules = [rule for rule in rules if rule.startswith("-A OUTPUT")]
    assert input_rules[-1] == "-A INPUT -j REJECT --reject-with icmp-host-prohibited"
    assert output_rules[-1] == "-A OUTPUT -j REJECT --reject-with icmp-host-prohibited"
    assert not any("REJECT" in rule for rule in input_rules[:-1] + output_rules[:-1])


def test_nftables_firewall_is_one_inet_table_with_drop_policies():
    ruleset = nlmlab.render_nftables("nftables")
    assert ruleset.startswith("#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n")
    assert ruleset.count("policy drop;") == 3
    assert "echo" not in ruleset
    other = nlmlab.render_nftables("iptables-nft")
    assert "flush ruleset" not in other  # loading it must not wipe the iptables-nft tables
    assert not any(line.startswith("table") for line in other.splitlines())


def test_delay_hooks_queue_both_addresses_of_the_peer_on_the_transport_interface_only():
    lab = nlmlab.Lab(name="plan", nodes=2)
    n1, n2 = lab.nodes
    assert nlmlab.render_delay_hooks(n1, [(n2, 2)], 6) == (
        "*mangle\n"
        "-A POSTROUTING -o eth0 -d 2001:db8::c -j NFQUEUE --queue-num 2\n"
        "-A POSTROUTING -o eth0 -d 2001:db8:1:2::1 -j NFQUEUE --queue-num 2\n"
        "COMMIT\n")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"nodes": nlmlab.MAX_NODES + 1}, "nodes must be a whole number from 1 to 240"),
    ({"firewall": "pf"}, "firewall 'pf' is not one of iptables-nft, iptables-legacy, nftables, reject-tail, ufw, firewalld, none"),
    ({"mode": "Encap"}, "mode 'Encap' is not one of encap, noEncap, hybrid, networkPolicyOnly"),
    ({"name": "nlm-1"}, "lab name 'nlm-1' must be 1-8 lower-case letters or digits"),
])
def test_bad_settings_are_refused_with_the_allowed_values(kwargs, message):
    with pytest.raises(nlmlab.LabError, match=message):
        nlmlab.Lab(**kwargs)
