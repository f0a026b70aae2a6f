"""A multi-node Antrea-like network built from Linux network namespaces.

Each node is a network namespace with ``eth0`` on a transport network (a bridge in
the lab's ``<name>-net`` namespace) and ``antrea-gw0`` holding the first address of
the node's Pod CIDRs, routed to its peers as Antrea routes them in the chosen traffic
mode. Every node gets a hardened firewall, its own copies of the /etc files that the
collection persists, and an Ansible inventory entry. See docs/lab.md.

Usable as a library (``Lab(...).up()``) and as a command line
(``nlmlab.py up --nodes 3 --firewall iptables-nft --mode encap``, ``nlmlab.py down``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

import nlmmachines

REPO = Path(__file__).resolve().parent.parent
DEFAULT_NAME = "nlm"
FIREWALLS = ("iptables-nft", "iptables-legacy", "nftables", "reject-tail", "ufw", "firewalld", "none")
# firewalls that are services loading their own configuration at boot
SERVICE_FIREWALLS = ("ufw", "firewalld")
# netns: every node a namespace, entered by the netns connection as root on this
# filesystem; machines: every node's namespace the network of a booted Debian machine,
# reached over SSH as an operator with sudo (lab/nlmmachines.py).
KINDS = ("netns", "machines")
MODES = ("encap", "noEncap", "hybrid", "networkPolicyOnly")
# Node addresses are offset by 10 inside each /24 transport subnet, and every node
# owns one /24 of 198.19.0.0/16 as its IPv4 Pod CIDR: 240 nodes fit both.
MAX_NODES = 240
HOST_OFFSET = 10
TRANSPORT_SUBNETS_IPV4 = (ipaddress.ip_network("198.18.0.0/24"), ipaddress.ip_network("198.18.1.0/24"))
TRANSPORT_SUBNETS_IPV6 = (ipaddress.ip_network("2001:db8:0:0::/64"), ipaddress.ip_network("2001:db8:0:1::/64"))
POD_SUPERNET_IPV4 = ipaddress.ip_network("198.19.0.0/16")
POD_SUPERNET_IPV6 = ipaddress.ip_network("2001:db8:1::/48")
TRANSPORT_INTERFACE = "eth0"
GATEWAY_INTERFACE = "antrea-gw0"
VXLAN_ID = 1
VXLAN_PORT = 4789
NETNS_RUN_DIR = Path("/run/netns")
NETNS_ETC_DIR = Path("/etc/netns")
# /etc entries that every node gets its own copy of. `ip netns exec` bind-mounts
# /etc/netns/<ns>/<entry> over /etc/<entry>, which only works when /etc/<entry> exists.
PER_NODE_ETC_DIRS = ("iptables", "sysconfig", "antrea")
PER_NODE_ETC_FILES = ("nftables.conf",)
# The nodes of a lab share one alternatives directory (in the state directory): it only
# decides which iptables flavour `iptables` runs, and 400 symlinks per node made 100-node
# labs slow to build and remove.
ALTERNATIVES = "alternatives"
IPTABLES_COMMANDS = ("iptables", "iptables-restore", "iptables-save", "ip6tables", "ip6tables-restore", "ip6tables-save")
LAB_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")
DELAY_ITEM_RE = re.compile(r"^(n\d+)-(n\d+)=(\d+(?:\.\d+)?)ms$")
DELAY_DAEMON = Path(__file__).resolve().parent / "nlmdelay.py"
COMMAND_TIMEOUT = 120


class LabError(Exception):
    """A lab operation failed; the message says what and what to do."""


class NodeCommandError(subprocess.CalledProcessError):
    """A command run in a node failed; unlike its base class, it shows the command's stderr."""

    def __str__(self) -> str:
        return f"{super().__str__()} {(self.stderr or '').strip()}".rstrip()


@dataclasses.dataclass(frozen=True)
class Node:
    """One lab node and the addresses the lab gave it."""

    name: str
    index: int
    netns: str
    subnet: int
    transport_interface: str
    gateway_interface: str
    transport_ipv4: str
    transport_ipv6: str
    gateway_ipv4: str
    gateway_ipv6: str
    pod_cidr_ipv4: str
    pod_cidr_ipv6: str
    gateway_mac: str
    transport_mac: str


def plan_node(lab_name: str, index: int, subnet: int) -> Node:
    """Addresses of node ``n<index>`` on transport subnet ``subnet`` (0 or 1)."""
    pod_ipv4 = ipaddress.ip_network((int(POD_SUPERNET_IPV4.network_address) + (index << 8), 24))
    pod_ipv6 = ipaddress.ip_network((int(POD_SUPERNET_IPV6.network_address) + (index << 64), 64))
    return Node(
        name=f"n{index}",
        index=index,
        netns=f"{lab_name}-n{index}",
        subnet=subnet,
        transport_interface=TRANSPORT_INTERFACE,
        gateway_interface=GATEWAY_INTERFACE,
        transport_ipv4=str(TRANSPORT_SUBNETS_IPV4[subnet].network_address + HOST_OFFSET + index),
        transport_ipv6=str(TRANSPORT_SUBNETS_IPV6[subnet].network_address + HOST_OFFSET + index),
        gateway_ipv4=str(pod_ipv4.network_address + 1),
        gateway_ipv6=str(pod_ipv6.network_address + 1),
        pod_cidr_ipv4=str(pod_ipv4),
        pod_cidr_ipv6=str(pod_ipv6),
        gateway_mac="02:4e:4c:00:%02x:%02x" % (index >> 8, index & 0xFF),
        transport_mac="02:4e:4c:01:%02x:%02x" % (index >> 8, index & 0xFF),
    )


def parse_delay(spec: str, node_names: set[str]) -> dict[tuple[str, str], float]:
    """Parse ``n1-n2=20ms,n1-n3=5ms`` into {("n1", "n2"): 20.0, ...} (round-trip ms)."""
    delays: dict[tuple[str, str], float] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        match = DELAY_ITEM_RE.match(item)
        if not match:
            raise LabError(f"delay item {item!r} is not of the form n1-n2=20ms; write e.g. DELAY='n1-n2=20ms,n1-n3=5ms'")
        first, second, value = match.group(1), match.group(2), float(match.group(3))
        for name in (first, second):
            if name not in node_names:
                raise LabError(f"delay item {item!r} names {name}, which is not a node of this lab (n1..n{len(node_names)})")
        if first == second:
            raise LabError(f"delay item {item!r} links a node to itself; name two different nodes")
        link = tuple(sorted((first, second), key=lambda name: int(name[1:])))
        if link in delays:
            raise LabError(f"delay item {item!r} repeats the link {link[0]}-{link[1]}; give each link once")
        delays[link] = value
    return delays


def _accept_rules_iptables(family: int) -> list[str]:
    """Rule bodies (after ``-A CHAIN``) that a hardened node accepts in both directions."""
    rules = ["-p tcp -j ACCEPT", "-p udp -j ACCEPT"]
    if family == 4:
        # Destination unreachable, time exceeded and parameter problem keep PMTU
        # discovery and error reporting alive; echo (0, 8) is what stays blocked.
        rules += [f"-p icmp -m icmp --icmp-type {icmp_type} -j ACCEPT" for icmp_type in (3, 11, 12)]
    else:
        # Errors (1-4) and neighbour discovery (133-136): without ND nothing works.
        rules += [f"-p ipv6-icmp -m icmp6 --icmpv6-type {icmp_type} -j ACCEPT" for icmp_type in (1, 2, 3, 4, 133, 134, 135, 136)]
    return rules


def render_iptables(firewall: str, family: int) -> str:
    """The iptables-restore text of a node's filter table for FIREWALL=firewall."""
    policy = "DROP" if firewall in ("iptables-nft", "iptables-legacy") else "ACCEPT"
    lines = ["*filter", f":INPUT {policy} [0:0]", f":FORWARD {policy} [0:0]", f":OUTPUT {policy} [0:0]"]
    if firewall != "none":
        reject = "icmp-host-prohibited" if family == 4 else "icmp6-adm-prohibited"
        for chain, direction in (("INPUT", "-i"), ("OUTPUT", "-o")):
            lines.append(f"-A {chain} {direction} lo -j ACCEPT")
            lines += [f"-A {chain} {rule}" for rule in _accept_rules_iptables(family)]
            if firewall == "reject-tail":
                lines.append(f"-A {chain} -j REJECT --reject-with {reject}")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def render_nftables(firewall: str) -> str:
    """The /etc/nftables.conf of a node for FIREWALL=firewall."""
    if firewall != "nftables":
        return f"#!/usr/sbin/nft -f\n# This node's firewall is {firewall}; nftables holds no rules of its own here.\n"
    accepts = [
        "meta l4proto { tcp, udp } accept",
        "icmp type { destination-unreachable, time-exceeded, parameter-problem } accept",
        "icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, "
        "nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept",
    ]
    chains = []
    for chain, interface_match in (("input", 'iifname "lo"'), ("forward", None), ("output", 'oifname "lo"')):
        body = [f"\t\ttype filter hook {chain} priority filter; policy drop;"]
        if interface_match:
            body.append(f"\t\t{interface_match} accept")
            body += [f"\t\t{rule}" for rule in accepts]
        chains.append(f"\tchain {chain} {{\n" + "\n".join(body) + "\n\t}")
    return "#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n" + "\n".join(chains) + "\n}\n"


def render_delay_hooks(node: Node, peer_queues: list[tuple[Node, int]], family: int) -> str:
    """iptables-restore --noflush text that hands packets to ``peer`` to NFQUEUE ``queue``.

    The hooks live in the mangle table's POSTROUTING chain on the transport interface,
    so the filter table that the collection manages is untouched, an overlay packet is
    delayed once (as its VXLAN envelope), and a packet dropped by the filter is never queued.
    """
    lines = ["*mangle"]
    for peer, queue in peer_queues:
        addresses = (peer.transport_ipv4, peer.gateway_ipv4) if family == 4 else (peer.transport_ipv6, peer.gateway_ipv6)
        for address in addresses:
            lines.append(f"-A POSTROUTING -o {node.transport_interface} -d {address} -j NFQUEUE --queue-num {queue}")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def render_antrea_agent_conf(mode: str, node: Node) -> str:
    """A minimal antrea-agent.conf as the ConfigMap would mount it on this node."""
    return (
        "featureGates:\n"
        "  NodeLatencyMonitor: true\n"
        f"trafficEncapMode: {mode}\n"
        "tunnelType: vxlan\n"
        f"transportInterface: {node.transport_interface}\n"
        f"hostGateway: {node.gateway_interface}\n"
    )


def iptables_backend(firewall: str) -> str:
    """Which iptables flavour a node's ``iptables`` command resolves to."""
    return "legacy" if firewall == "iptables-legacy" else "nft"


def _run(argv: list[str], input: str | None = None, timeout: float | None = COMMAND_TIMEOUT, check: bool = True) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        raise LabError(f"{' '.join(argv)} did not finish within {timeout} s") from error
    if check and result.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed with exit code {result.returncode}: {result.stderr.strip()}")
    return result


def _parallel(function, items) -> list:
    """Run function over items on a few threads; the work is mostly waiting for child processes."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(4, 2 * (os.cpu_count() or 1))) as pool:
        return list(pool.map(function, items))


def _netns_inode(netns: str) -> int | None:
    try:
        return (NETNS_RUN_DIR / netns).stat().st_ino
    except OSError:
        return None


def _pids_in_netns(inodes: set[int]) -> list[int]:
    """Processes whose network namespace is one of ``inodes`` (nsfs inode numbers)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino in inodes:
                pids.append(int(entry))
        except OSError:
            continue
    return pids


def _stop_processes(pids: list[int]) -> None:
    """SIGTERM, then SIGKILL what is still there after a grace period."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + 3
    remaining = list(pids)
    while remaining and time.monotonic() < deadline:
        remaining = [pid for pid in remaining if Path(f"/proc/{pid}").exists() and not _is_zombie(pid)]
        time.sleep(0.05)
    for pid in remaining:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


class Lab:
    """A lab of ``nodes`` namespaces named ``<name>-n1`` ... plus ``<name>-net`` for the transport network."""

    def __init__(self, name: str = DEFAULT_NAME, nodes: int = 3, firewall: str = "iptables-nft", mode: str = "encap",
                 delay: str = "", state_dir: str | os.PathLike | None = None, kind: str = "netns") -> None:
        if not LAB_NAME_RE.match(name or ""):
            raise LabError(f"lab name {name!r} must be 1-8 lower-case letters or digits starting with a letter (default {DEFAULT_NAME!r})")
        if not isinstance(nodes, int) or not 1 <= nodes <= MAX_NODES:
            raise LabError(f"nodes must be a whole number from 1 to {MAX_NODES}, not {nodes!r}")
        if firewall not in FIREWALLS:
            raise LabError(f"firewall {firewall!r} is not one of {', '.join(FIREWALLS)}")
        if mode not in MODES:
            raise LabError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        if kind not in KINDS:
            raise LabError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
        if firewall in SERVICE_FIREWALLS and kind != "machines":
            raise LabError(f"firewall {firewall} needs machines (KIND=machines): {firewall} is a service that loads "
                           "its rules when the machine boots")
        self.kind = kind
        self.name = name
        self.firewall = firewall
        self.mode = mode
        self.delay_spec = delay or ""
        if state_dir is None:
            state_dir = REPO / ".lab" if name == DEFAULT_NAME else REPO / ".lab" / name
        self.state_dir = Path(state_dir)
        self.inventory_path = self.state_dir / "inventory.yml"
        self.state_path = self.state_dir / "state.json"
        self.net_netns = f"{name}-net"
        # hybrid: the first half of the nodes on one transport subnet, the rest on the other.
        split = (nodes + 1) // 2 if mode == "hybrid" else nodes
        self.nodes = [plan_node(name, index, 0 if index <= split else 1) for index in range(1, nodes + 1)]
        self._by_name = {node.name: node for node in self.nodes}
        self.delays = parse_delay(self.delay_spec, set(self._by_name))
        self._namespace_re = re.compile(rf"^{re.escape(name)}-(net|n[0-9]+)$")
        self.up_seconds: float | None = None
        self.down_seconds: float | None = None

    # --- queries --------------------------------------------------------------------

    def node(self, name: str) -> Node:
        try:
            return self._by_name[name]
        except KeyError:
            raise LabError(f"lab {self.name!r} has no node {name!r} (it has n1..n{len(self.nodes)})") from None

    def namespaces(self) -> list[str]:
        """Namespaces of this lab that exist now, whatever state file there is."""
        try:
            entries = os.listdir(NETNS_RUN_DIR)
        except FileNotFoundError:
            return []
        return sorted(entry for entry in entries if self._namespace_re.match(entry))

    def is_encap_peer(self, node: Node, peer: Node) -> bool:
        """Whether traffic from node to peer's Pod CIDR goes through the overlay."""
        return self.mode == "encap" or (self.mode == "hybrid" and node.subnet != peer.subnet)

    def run(self, node: Node | str, argv: list[str], check: bool = True, input: str | None = None,
            timeout: float | None = None) -> subprocess.CompletedProcess:
        """Run argv inside node's namespace (with its /etc/netns files bound over /etc)."""
        netns = self.node(node).netns if isinstance(node, str) else node.netns
        result = subprocess.run(["ip", "netns", "exec", netns, *argv], input=input, capture_output=True, text=True,
                                timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise NodeCommandError(result.returncode, result.args, result.stdout, result.stderr)
        return result

    def ping(self, src_node: Node | str, dst_address: str, count: int = 1, timeout: float = 1.0) -> bool:
        """Whether iputils ping from src_node gets a reply from dst_address."""
        argv = ["ping", "-n", "-q", "-c", str(count), "-W", str(timeout)]
        if count > 1:
            argv += ["-i", "0.2"]
        result = self.run(src_node, [*argv, dst_address], check=False, timeout=count * (timeout + 0.5) + 5)
        return result.returncode == 0

    # --- up -------------------------------------------------------------------------

    def up(self) -> "Lab":
        leftovers = self.namespaces()
        if leftovers or self.state_path.exists():
            print(f"nlmlab: lab {self.name!r} already exists ({len(leftovers)} namespaces); replacing it", file=sys.stderr)
            self.down()
        started = time.monotonic()
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._write_state(daemon_pids=[])
            self._prepare_etc()
            namespaces = [self.net_netns] + [node.netns for node in self.nodes]
            self._ip_batch(None, [f"netns add {netns}" for netns in namespaces])
            _parallel(self._set_sysctls, namespaces)
            self._ip_batch(None, [
                f"link add name {node.transport_interface} netns {node.netns} address {node.transport_mac} "
                f"type veth peer name {node.name} netns {self.net_netns}"
                for node in self.nodes])
            self._build_transport()
            _parallel(self._build_node, self.nodes)
            if self.kind == "machines":
                # their own boot loads their firewall, as a real node's does
                self.machines = nlmmachines.Machines(self)
                self.machines.boot()
            else:
                _parallel(self.load_firewall, self.nodes)
            daemon_pids = self._start_delays()
            self._write_state(daemon_pids=daemon_pids)
            self._write_inventory()
        except BaseException:
            print(f"nlmlab: bringing up lab {self.name!r} failed; removing what was made", file=sys.stderr)
            self.down()
            raise
        self.up_seconds = time.monotonic() - started
        return self

    def _prepare_etc(self) -> None:
        """Give every node its own iptables/, sysconfig/, antrea/ and nftables.conf, and the lab's alternatives."""
        for entry in (*PER_NODE_ETC_DIRS, ALTERNATIVES):
            # A bind target must exist; on a system without e.g. /etc/sysconfig an empty directory is made.
            Path("/etc", entry).mkdir(exist_ok=True)
        for entry in PER_NODE_ETC_FILES:
            if not Path("/etc", entry).exists():
                Path("/etc", entry).touch()
        alternatives = {entry.name: os.readlink(entry) for entry in os.scandir("/etc/alternatives") if entry.is_symlink()}
        backend = iptables_backend(self.firewall)
        for command in IPTABLES_COMMANDS:
            family, _separator, suffix = command.partition("-")
            target = f"/usr/sbin/{family}-{backend}" + (f"-{suffix}" if suffix else "")
            if not Path(target).exists():
                raise LabError(f"{target} is missing; install the iptables package (make setup) and try again")
            alternatives[command] = target
        lab_alternatives = self.state_dir / ALTERNATIVES
        if lab_alternatives.exists():
            shutil.rmtree(lab_alternatives)
        lab_alternatives.mkdir()
        for name, target in alternatives.items():
            os.symlink(target, lab_alternatives / name)
        rules_v4 = render_iptables(self.firewall, 4)
        rules_v6 = render_iptables(self.firewall, 6)
        for node in self.nodes:
            etc = NETNS_ETC_DIR / node.netns
            if etc.exists():
                shutil.rmtree(etc)
            for entry in PER_NODE_ETC_DIRS:
                (etc / entry).mkdir(parents=True)
            (etc / ALTERNATIVES).symlink_to(lab_alternatives.resolve())
            if self.firewall not in ("nftables", "none"):
                (etc / "iptables" / "rules.v4").write_text(rules_v4)
                (etc / "iptables" / "rules.v6").write_text(rules_v6)
            (etc / "nftables.conf").write_text(render_nftables(self.firewall))
            (etc / "antrea" / "antrea-agent.conf").write_text(render_antrea_agent_conf(self.mode, node))

    def _ip_batch(self, netns: str | None, commands: list[str], tool: str = "ip") -> None:
        if not commands:
            return
        argv = [tool] + (["-n", netns] if netns else []) + ["-batch", "-"]
        _run(argv, input="\n".join(commands) + "\n")

    def _set_sysctls(self, netns: str) -> None:
        settings = [
            # Addresses are usable at once: no duplicate address detection on a lab wire.
            "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
            # As on a Debian host, unprivileged ICMP sockets are allowed (icmplib privileged=false).
            "net.ipv4.ping_group_range=0 2147483647",
        ]
        if netns == self.net_netns and self.mode == "hybrid":
            settings += ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]
        _run(["ip", "netns", "exec", netns, "sysctl", "-q", "-w", *settings])

    def _build_transport(self) -> None:
        """Bridges (one per transport subnet) in <name>-net; in hybrid mode it also routes between them."""
        subnets = sorted({node.subnet for node in self.nodes})
        commands = ["link set lo up"]
        for subnet in subnets:
            bridge = f"tr{subnet}"
            # Multicast snooping off: IPv6 neighbour discovery must reach every port without an MLD querier.
            commands.append(f"link add name {bridge} type bridge forward_delay 0 mcast_snooping 0")
            if self.mode == "hybrid":
                commands.append(f"addr add {TRANSPORT_SUBNETS_IPV4[subnet].network_address + 1}/24 dev {bridge}")
                commands.append(f"addr add {TRANSPORT_SUBNETS_IPV6[subnet].network_address + 1}/64 dev {bridge} nodad")
            commands.append(f"link set {bridge} up")
        for node in self.nodes:
            commands.append(f"link set {node.name} master tr{node.subnet} up")
        self._ip_batch(self.net_netns, commands)

    def _build_node(self, node: Node) -> None:
        peers = [peer for peer in self.nodes if peer is not node]
        encap_peers = [peer for peer in peers if self.is_encap_peer(node, peer)]
        transport = node.transport_interface
        gateway = node.gateway_interface
        commands = [
            "link set lo up",
            f"link set {transport} up",
            f"addr add {node.transport_ipv4}/24 dev {transport}",
            f"addr add {node.transport_ipv6}/64 dev {transport} nodad",
        ]
        # antrea-gw0 is a VXLAN device in every mode (this kernel has no dummy devices);
        # only in encap and hybrid mode do routes and forwarding entries lead into it.
        commands += [
            f"link add name {gateway} address {node.gateway_mac} type vxlan id {VXLAN_ID} "
            f"local {node.transport_ipv4} dstport {VXLAN_PORT} nolearning dev {transport}",
            f"addr add {node.gateway_ipv4}/24 dev {gateway}",
            f"addr add {node.gateway_ipv6}/64 dev {gateway} nodad",
            f"link set {gateway} up",
        ]
        if self.mode == "hybrid":
            other = 1 - node.subnet
            commands.append(f"route add {TRANSPORT_SUBNETS_IPV4[other]} via {TRANSPORT_SUBNETS_IPV4[node.subnet].network_address + 1}")
            commands.append(f"route add {TRANSPORT_SUBNETS_IPV6[other]} via {TRANSPORT_SUBNETS_IPV6[node.subnet].network_address + 1}")
        if self.kind == "machines":
            # A machine has a default route as a user's node does (the role finds its transport
            # interface by it); the router it names leads nowhere, so nothing leaves the lab.
            commands.append(f"route add default via {TRANSPORT_SUBNETS_IPV4[node.subnet].network_address + 1}")
            commands.append(f"route add default via {TRANSPORT_SUBNETS_IPV6[node.subnet].network_address + 1}")
        # The kernel's neighbour table is shared by every namespace and stops resolving
        # beyond gc_thresh3 (1,024) dynamic entries, which a mesh of 30 and more nodes
        # reaches; permanent entries for the peers on the same subnet do not count.
        commands += [f"neigh replace {address} lladdr {peer.transport_mac} dev {transport} nud permanent"
                     for peer in peers if peer.subnet == node.subnet
                     for address in (peer.transport_ipv4, peer.transport_ipv6)]
        fdb = []
        if self.mode != "networkPolicyOnly":
            for peer in peers:
                if peer in encap_peers:
                    # As Antrea's OVS pipeline does, peers' gateway MACs are known up front:
                    # no ARP or ND crosses the tunnel.
                    commands += [
                        f"neigh add {peer.gateway_ipv4} lladdr {peer.gateway_mac} dev {gateway} nud permanent",
                        f"neigh add {peer.gateway_ipv6} lladdr {peer.gateway_mac} dev {gateway} nud permanent",
                        f"route add {peer.pod_cidr_ipv4} via {peer.gateway_ipv4} dev {gateway} onlink",
                        f"route add {peer.pod_cidr_ipv6} via {peer.gateway_ipv6} dev {gateway} onlink",
                    ]
                    fdb.append(f"fdb add {peer.gateway_mac} dev {gateway} dst {peer.transport_ipv4} self permanent")
                else:
                    commands += [
                        f"route add {peer.pod_cidr_ipv4} via {peer.transport_ipv4} dev {transport}",
                        f"route add {peer.pod_cidr_ipv6} via {peer.transport_ipv6} dev {transport}",
                    ]
        self._ip_batch(node.netns, commands)
        self._ip_batch(node.netns, fdb, tool="bridge")

    def load_firewall(self, node: Node) -> None:
        """Load the node's firewall from its own persisted files, as its boot would.

        Tests call this to put a node's hardened firewall back after changing it.
        """
        if self.firewall == "nftables":
            _run(["ip", "netns", "exec", node.netns, "nft", "-f", "/etc/nftables.conf"])
        elif self.firewall != "none":
            _run(["ip", "netns", "exec", node.netns, "iptables-restore", "/etc/iptables/rules.v4"])
            _run(["ip", "netns", "exec", node.netns, "ip6tables-restore", "/etc/iptables/rules.v6"])

    def _start_delays(self) -> list[int]:
        """Start one NFQUEUE delay daemon per node that has a delayed link; return their PIDs."""
        if not self.delays:
            return []
        # Each direction carries half of the round-trip delay; queue number = peer index.
        per_node: dict[str, list[tuple[Node, float]]] = {}
        for (first, second), milliseconds in self.delays.items():
            per_node.setdefault(first, []).append((self._by_name[second], milliseconds / 2))
            per_node.setdefault(second, []).append((self._by_name[first], milliseconds / 2))
        pids = []
        for node_name, peer_delays in per_node.items():
            node = self._by_name[node_name]
            ready_file = self.state_dir / f"delay-{node.name}.ready"
            ready_file.unlink(missing_ok=True)
            argv = ["ip", "netns", "exec", node.netns, sys.executable, str(DELAY_DAEMON), "--ready-file", str(ready_file)]
            argv += [f"--queue={peer.index}:{milliseconds}" for peer, milliseconds in peer_delays]
            with open(self.state_dir / f"delay-{node.name}.log", "w", encoding="utf-8") as log:
                process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
            pids.append(process.pid)
            self._write_state(daemon_pids=pids)
            deadline = time.monotonic() + 10
            while not ready_file.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise LabError(f"the delay daemon of {node.name} did not start; see {self.state_dir}/delay-{node.name}.log")
                time.sleep(0.02)
            queues = [(peer, peer.index) for peer, _milliseconds in peer_delays]
            for family, restore in ((4, "iptables-restore"), (6, "ip6tables-restore")):
                hooks = render_delay_hooks(node, queues, family)
                _run(["ip", "netns", "exec", node.netns, restore, "--noflush"], input=hooks)
                if self.kind == "machines":
                    # for the machine's supervisor, which puts them back after each reboot
                    (self.state_dir / nlmmachines.STATE_DIR / node.name / (nlmmachines.DELAY_HOOKS % family)).write_text(hooks)
        return pids

    def _write_state(self, daemon_pids: list[int]) -> None:
        state = {"name": self.name, "nodes": len(self.nodes), "firewall": self.firewall, "mode": self.mode,
                 "delay": self.delay_spec, "daemon_pids": daemon_pids, "kind": self.kind}
        self.state_path.write_text(json.dumps(state, indent=2) + "\n")

    def _write_inventory(self) -> None:
        if self.kind == "machines":
            inventory = self.machines.inventory()
            header = f"# Written by lab/nlmlab.py for lab {self.name!r}; `make lab-down` removes it.\n---\n"
            self.inventory_path.write_text(header + yaml.safe_dump(inventory, sort_keys=False, default_flow_style=False))
            return
        hosts = {}
        for node in self.nodes:
            hosts[node.name] = {
                "nlm_netns": node.netns,
                "nlm_traffic_mode": self.mode,
                "nlm_transport_interface": node.transport_interface,
                "nlm_gateway_interface": node.gateway_interface,
                "nlm_transport_ipv4": node.transport_ipv4,
                "nlm_transport_ipv6": node.transport_ipv6,
                "nlm_gateway_ipv4": node.gateway_ipv4,
                "nlm_gateway_ipv6": node.gateway_ipv6,
                "nlm_pod_cidr_ipv4": node.pod_cidr_ipv4,
                "nlm_pod_cidr_ipv6": node.pod_cidr_ipv6,
            }
        inventory = {"all": {"children": {"nlm_nodes": {
            "vars": {
                "ansible_connection": "nodelatency.monitor.netns",
                # entered as root already: a play's become has nothing to do
                "ansible_become": False,
                "ansible_python_interpreter": sys.executable,
                "nlm_lab_name": self.name,
                "nlm_lab_firewall": self.firewall,
            },
            "hosts": hosts,
        }}}}
        header = f"# Written by lab/nlmlab.py for lab {self.name!r}; `make lab-down` removes it.\n---\n"
        self.inventory_path.write_text(header + yaml.safe_dump(inventory, sort_keys=False, default_flow_style=False))

    # --- down -----------------------------------------------------------------------

    def down(self) -> "Lab":
        """Remove every namespace, process and file of this lab; safe to run any number of times."""
        started = time.monotonic()
        # machines power off first, so that their systemd shuts them down in order
        nlmmachines.Machines(self).power_off()
        namespaces = self.namespaces()
        inodes = {inode for inode in map(_netns_inode, namespaces) if inode is not None}
        pids = set(_pids_in_netns(inodes)) if inodes else set()
        pids.update(pid for pid in self._recorded_daemon_pids() if self._is_delay_daemon(pid))
        pids.discard(os.getpid())
        _stop_processes(sorted(pids))
        if namespaces:
            self._ip_batch(None, [f"netns del {netns}" for netns in namespaces])
        if NETNS_ETC_DIR.is_dir():
            for entry in os.listdir(NETNS_ETC_DIR):
                if self._namespace_re.match(entry):
                    shutil.rmtree(NETNS_ETC_DIR / entry, ignore_errors=True)
        for path in (self.inventory_path, self.state_path):
            path.unlink(missing_ok=True)
        if self.state_dir.is_dir():
            for path in self.state_dir.glob("delay-n*.*"):
                path.unlink(missing_ok=True)
            shutil.rmtree(self.state_dir / ALTERNATIVES, ignore_errors=True)
            shutil.rmtree(self.state_dir / nlmmachines.STATE_DIR, ignore_errors=True)
            try:
                self.state_dir.rmdir()
            except OSError:
                pass  # not empty: it holds files or other labs' state that are not ours to remove
        self.down_seconds = time.monotonic() - started
        return self

    @classmethod
    def recorded(cls, name: str = DEFAULT_NAME, state_dir=None) -> "Lab":
        """The lab as its state file describes it."""
        probe = cls(name=name, state_dir=state_dir)
        try:
            state = json.loads(probe.state_path.read_text())
        except (OSError, ValueError):
            raise LabError(f"lab {name!r} is not up (no {probe.state_path}); make lab-up first") from None
        return cls(name=name, nodes=state["nodes"], firewall=state["firewall"], mode=state["mode"],
                   delay=state.get("delay", ""), state_dir=state_dir, kind=state.get("kind", "netns"))

    def _recorded_daemon_pids(self) -> list[int]:
        try:
            return [int(pid) for pid in json.loads(self.state_path.read_text()).get("daemon_pids", [])]
        except (OSError, ValueError, TypeError):
            return []

    @staticmethod
    def _is_delay_daemon(pid: int) -> bool:
        """A recorded PID counts only while it still runs our daemon (PIDs are reused)."""
        try:
            return DELAY_DAEMON.name.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nlmlab.py", description="Network-namespace lab for nodelatency.monitor (docs/lab.md).")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="bring the lab up (replacing a lab of the same name)")
    up.add_argument("--nodes", type=int, default=3)
    up.add_argument("--firewall", default="iptables-nft", choices=FIREWALLS)
    up.add_argument("--mode", default="encap", choices=MODES)
    up.add_argument("--delay", default="", help="round-trip delay per link, e.g. 'n1-n2=20ms,n1-n3=5ms'")
    up.add_argument("--kind", default="netns", choices=KINDS,
                    help="netns: namespaces entered as root; machines: booted Debian machines reached over SSH")
    reboot = sub.add_parser("reboot", help="reboot a machine of a KIND=machines lab, as its operator would")
    reboot.add_argument("node")
    for command in (up, reboot, sub.add_parser("down", help="remove every namespace, process and file of the lab")):
        command.add_argument("--name", default=DEFAULT_NAME, help=f"lab name, the prefix of its namespaces (default {DEFAULT_NAME})")
        command.add_argument("--state-dir", default=None, help="where the inventory and state go (default .lab or .lab/<name>)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("nlmlab: must run as root (it creates network namespaces)", file=sys.stderr)
        return 1
    try:
        if args.command == "up":
            lab = Lab(name=args.name, nodes=args.nodes, firewall=args.firewall, mode=args.mode, delay=args.delay,
                      state_dir=args.state_dir, kind=args.kind).up()
            print(f"nlmlab: lab {lab.name!r} up in {lab.up_seconds:.1f} s: {len(lab.nodes)} {lab.kind} nodes, "
                  f"firewall {lab.firewall}, mode {lab.mode}, delay {lab.delay_spec or 'none'}; "
                  f"inventory {lab.inventory_path}")
        elif args.command == "reboot":
            lab = Lab.recorded(name=args.name, state_dir=args.state_dir)
            if lab.kind != "machines":
                raise LabError(f"lab {lab.name!r} is a {lab.kind} lab: only machines reboot (make lab-up KIND=machines)")
            nlmmachines.Machines(lab).reboot(lab.node(args.node))
            print(f"nlmlab: {args.node} rebooted")
        else:
            lab = Lab(name=args.name, state_dir=args.state_dir).down()
            print(f"nlmlab: lab {lab.name!r} down in {lab.down_seconds:.1f} s")
    except LabError as error:
        print(f"nlmlab: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
