"""The lab's hardened firewalls are real: ICMP echo is dropped in every direction,
while TCP and UDP cross the overlay between gateway addresses."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.lab

HARDENED_FIREWALLS = ("iptables-nft", "iptables-legacy", "nftables", "reject-tail")
EXCHANGE_PORT = 7000

# Answers every UDP datagram and one TCP connection on ADDRESS:PORT, then exits.
EXCHANGE_SERVER = r"""
import select, socket, sys
address, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if ":" in address else socket.AF_INET
tcp = socket.socket(family, socket.SOCK_STREAM)
tcp.bind((address, port))
tcp.listen(1)
udp = socket.socket(family, socket.SOCK_DGRAM)
udp.bind((address, port))
print("ready", flush=True)
while True:
    readable, _, _ = select.select([tcp, udp], [], [], 30)
    if not readable:
        sys.exit("no client within 30 s")
    if udp in readable:
        data, peer = udp.recvfrom(100)
        udp.sendto(b"udp:" + data, peer)
    if tcp in readable:
        connection, _ = tcp.accept()
        connection.sendall(b"tcp:" + connection.recv(100))
        connection.close()
        break
"""

# From SOURCE, one UDP round trip (resent until answered) and one TCP round trip to ADDRESS:PORT.
EXCHANGE_CLIENT = r"""
import socket, sys
source, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
family = socket.AF_INET6 if ":" in address else socket.AF_INET
udp = socket.socket(family, socket.SOCK_DGRAM)
udp.bind((source, 0))
udp.settimeout(1)
for attempt in range(5):
    udp.sendto(b"hello", (address, port))
    try:
        print(udp.recv(100).decode())
        break
    except socket.timeout:
        continue
tcp = socket.create_connection((address, port), timeout=5, source_address=(source, 0))
tcp.sendall(b"hello")
print(tcp.recv(100).decode())
"""


def exchange(lab, client, server, address: str, source: str) -> list[str]:
    """What the client got back from a UDP and a TCP exchange with server's address."""
    process = subprocess.Popen(["ip", "netns", "exec", server.netns, sys.executable, "-c", EXCHANGE_SERVER, address,
                                str(EXCHANGE_PORT)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "ready", process.stderr.read()
        result = lab.run(client, [sys.executable, "-c", EXCHANGE_CLIENT, source, address, str(EXCHANGE_PORT)],
                         check=False, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout.split()
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("firewall", HARDENED_FIREWALLS)
def test_echo_is_dropped_and_the_overlay_carries_tcp_and_udp(lab_factory, ping_all, firewall):
    lab = lab_factory(nodes=3, firewall=firewall)
    n1, n2, n3 = lab.nodes
    probes = [(source, address) for source, target in ((n1, n2), (n3, n1))
              for address in (target.gateway_ipv4, target.gateway_ipv6, target.transport_ipv4, target.transport_ipv6)]
    assert ping_all(lab, probes) == [False] * len(probes)
    assert exchange(lab, n1, n2, n2.gateway_ipv4, source=n1.gateway_ipv4) == ["udp:hello", "tcp:hello"]
    assert exchange(lab, n1, n2, n2.gateway_ipv6, source=n1.gateway_ipv6) == ["udp:hello", "tcp:hello"]


@pytest.mark.parametrize("firewall", HARDENED_FIREWALLS)
def test_each_of_the_four_echo_directions_is_blocked_on_its_own(lab_factory, ping_all, allow_echo, firewall):
    """Echo gets through only with all four allowances: request out and in, reply out and in.

    Each prober/responder pair lacks one allowance, the last pair has all four. Without
    a reply allowance the reply is dropped although the request went out, so no
    connection-tracking rule lets it through.
    """
    allowances = (("prober", "OUTPUT", "echo-request"), ("responder", "INPUT", "echo-request"),
                  ("responder", "OUTPUT", "echo-reply"), ("prober", "INPUT", "echo-reply"))
    variants = [tuple(allowance for allowance in allowances if allowance is not missing) for missing in allowances]
    variants.append(allowances)
    lab = lab_factory(nodes=2 * len(variants), firewall=firewall)
    probes = []
    for pair, chosen in enumerate(variants):
        roles = {"prober": lab.nodes[2 * pair], "responder": lab.nodes[2 * pair + 1]}
        for family in (4, 6):
            for role, chain, icmp_type in chosen:
                allow_echo(lab, roles[role], family, chain, icmp_type, roles[role].gateway_interface)
        probes += [(roles["prober"], roles["responder"].gateway_ipv4), (roles["prober"], roles["responder"].gateway_ipv6)]
    assert ping_all(lab, probes) == [False] * (len(probes) - 2) + [True, True]


@pytest.mark.parametrize(("firewall", "backend"), [
    ("iptables-nft", "nf_tables"), ("iptables-legacy", "legacy"), ("nftables", "nf_tables"), ("none", "nf_tables"),
])
def test_iptables_resolves_to_the_lab_backend_in_every_node(lab_factory, firewall, backend):
    lab = lab_factory(nodes=2, firewall=firewall)
    for node in lab.nodes:
        for command in ("iptables", "ip6tables", "iptables-save", "iptables-restore"):
            assert f"({backend})" in lab.run(node, [command, "--version"]).stdout
