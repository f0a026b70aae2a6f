"""Routes to the peers' Pod CIDRs follow Antrea's traffic modes, and so does the
interface on which ICMP to a peer's gateway leaves and arrives."""

from __future__ import annotations

import subprocess

import pytest

pytestmark = pytest.mark.lab

# Which peers of n1 (in a 4-node lab) are reached through the overlay, per mode.
# hybrid puts n1 and n2 on one transport subnet and n3 and n4 on the other.
OVERLAY_PEERS = {
    "encap": {"n2", "n3", "n4"},
    "noEncap": set(),
    "hybrid": {"n3", "n4"},
    "networkPolicyOnly": set(),
}


def route_device(lab, node, address: str) -> str | None:
    """The device the node's kernel would send to address through, or None when unreachable."""
    result = lab.run(node, ["ip", "-o", "route", "get", address], check=False)
    if result.returncode != 0:
        return None
    words = result.stdout.split()
    return words[words.index("dev") + 1]


@pytest.mark.parametrize("mode", sorted(OVERLAY_PEERS))
def test_routes_to_peer_gateways_follow_the_traffic_mode(lab_factory, ping_all, mode):
    lab = lab_factory(nodes=4, firewall="none", mode=mode)
    n1, *peers = lab.nodes
    for peer in peers:
        for address in (peer.gateway_ipv4, peer.gateway_ipv6):
            if mode == "networkPolicyOnly":
                assert route_device(lab, n1, address) is None
            elif peer.name in OVERLAY_PEERS[mode]:
                assert route_device(lab, n1, address) == "antrea-gw0"
            else:
                assert route_device(lab, n1, address) == "eth0"
        for address in (peer.transport_ipv4, peer.transport_ipv6):
            assert route_device(lab, n1, address) == "eth0"
    probes = [(n1, address) for peer in peers for address in (peer.gateway_ipv4, peer.gateway_ipv6,
                                                              peer.transport_ipv4, peer.transport_ipv6)]
    gateways_reachable = mode != "networkPolicyOnly"
    assert ping_all(lab, probes) == [gateways_reachable, gateways_reachable, True, True] * len(peers)


@pytest.mark.parametrize("mode", sorted(OVERLAY_PEERS))
def test_echo_allowed_only_on_antrea_gw0_reaches_exactly_the_overlay_peers(lab_factory, ping_all, allow_echo, mode):
    """Gateway-scoped allowances on a hardened firewall: what Antrea's rules do.

    They work for peers behind the overlay, where echo leaves and arrives on antrea-gw0
    at both ends, and not for direct-routed peers, whose echo crosses eth0.
    """
    lab = lab_factory(nodes=4, firewall="iptables-nft", mode=mode)
    for node in lab.nodes:
        for family in (4, 6):
            for chain, icmp_type in (("OUTPUT", "echo-request"), ("INPUT", "echo-request"),
                                     ("OUTPUT", "echo-reply"), ("INPUT", "echo-reply")):
                allow_echo(lab, node, family, chain, icmp_type, node.gateway_interface)
    n1, *peers = lab.nodes
    probes = [(n1, address) for peer in peers for address in (peer.gateway_ipv4, peer.gateway_ipv6)]
    expected = [peer.name in OVERLAY_PEERS[mode] for peer in peers for _family in (4, 6)]
    assert ping_all(lab, probes) == expected


def test_hybrid_subnets_are_joined_by_the_router_namespace(lab_factory):
    lab = lab_factory(nodes=4, firewall="none", mode="hybrid")
    n1, n2, n3, n4 = lab.nodes
    assert {n1.subnet, n2.subnet} == {0} and {n3.subnet, n4.subnet} == {1}
    assert n1.transport_ipv4.startswith("198.18.0.") and n3.transport_ipv4.startswith("198.18.1.")
    hops = lab.run(n1, ["ip", "-o", "route", "get", n3.transport_ipv4]).stdout.split()
    assert hops[hops.index("via") + 1] == "198.18.0.1"
    router = ["ip", "netns", "exec", lab.net_netns, "sysctl", "-n", "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"]
    assert subprocess.run(router, capture_output=True, text=True, check=True).stdout.split() == ["1", "1"]
