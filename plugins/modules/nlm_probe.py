#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to nodelatency.monitor
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nlm_probe
short_description: Measure ICMP echo latency from this node to its peers
version_added: 0.1.0
description:
  - Sends ICMP echo requests from this node to every target at once, over one
    socket per IP family, and returns round-trip times, loss and jitter per
    target as the fact C(nlm_latency).
  - Send times are read right before each packet is handed to the kernel;
    receive times come from the kernel (C(SO_TIMESTAMPNS)), so the RTT does not
    include the time the module takes to wake up. RTTs are taken on the
    monotonic clock, so a step of the wall clock does not change them.
  - A reply counts only when its identifier, sequence number, source address
    and payload match a request of this run, and only within O(timeout) of
    that request. Concurrent runs, on one node or in several network
    namespaces of one machine, do not take each other's replies.
  - Without O(targets) the action plugin works out the peers and their
    addresses from the inventory, so that C(ansible all -m nodelatency.monitor.nlm_probe)
    needs no arguments. A peer's addresses come from, in this order, its
    C(nlm_probe_address) variable; its C(nlm_gateway_ipv4)/C(nlm_gateway_ipv6)
    or C(nlm_transport_ipv4)/C(nlm_transport_ipv6) variables; its
    C(ansible_facts.nlm) from M(nodelatency.monitor.nlm_facts); its default
    IPv4/IPv6 address facts; its C(ansible_host) when that is an IP address.
    C(nlm_probe_address) is taken as it is; otherwise each family comes from
    the first source that knows it. When none does, the peer's C(ansible_host)
    (when a name) or inventory name is resolved on the controller, as ping
    would resolve it, and a warning names the peers resolved so.
  - An ICMP error (for example destination unreachable) or an address that
    is not valid fails only that target, in its C(error) field.
  - The module never changes anything on the node.
author:
  - nodelatency.monitor contributors (@nodelatency)
requirements:
  - icmplib >= 3.0.4 on the node
  - Linux; raw ICMP sockets need C(CAP_NET_RAW), datagram ICMP sockets need
    the process's group inside C(net.ipv4.ping_group_range)
extends_documentation_fragment:
  - nodelatency.monitor.attributes
  - nodelatency.monitor.attributes.INFO_MODULE
  - nodelatency.monitor.attributes.FACTS
attributes:
  idempotent:
    support: full
    details:
      - The module never changes anything; its results differ between runs as the network does.
  facts:
    support: full
  action:
    support: full
    description: Indicates this has a corresponding action plugin so some parts of the work can be done on the controller.
    details:
      - Peers and their addresses are resolved on the controller.
options:
  targets:
    description:
      - What to probe. Each item is an IP address, or a dictionary with C(name)
        (the peer's name in the result) and C(address) (an address or a list
        of addresses).
      - When omitted, the action plugin probes the peers selected by O(peers),
        O(target) and O(max_peers). Mutually exclusive with O(peers),
        O(max_peers) and O(rotation).
    type: list
    elements: raw
  name:
    description:
      - The prober's name in the result (C(nlm_latency.source)).
      - The action plugin sets it to the host's C(inventory_hostname).
    type: str
  count:
    description: Echo requests per target (rounds).
    type: int
    default: 3
  interval:
    description: Seconds between rounds. Every target gets one request per round.
    type: float
    default: 0.2
  timeout:
    description:
      - Seconds each request waits for its reply. A later reply counts as lost
        (and in C(late)).
      - The run takes about (O(count) - 1) x O(interval) + O(timeout) at most,
        whatever the number of targets, and ends early when every request has
        its answer.
    type: float
    default: 1.0
  payload_size:
    description:
      - Bytes of payload after the ICMP header, as in C(ping -s). The first 8
        carry the run's random nonce.
    type: int
    default: 56
  privileged:
    description:
      - V(auto) uses raw ICMP sockets when the process may open them, else
        unprivileged datagram ICMP sockets, else fails saying which capability
        or sysctl is missing.
      - V(true) insists on raw sockets, V(false) on datagram sockets.
    type: raw
    default: auto
  interface:
    description:
      - Send and receive only through this network interface (C(SO_BINDTODEVICE)),
        for example C(antrea-gw0).
    type: str
  source:
    description: Source addresses to bind to, at most one per IP family.
    type: list
    elements: str
    default: []
  keep_rtts:
    description:
      - Also return every RTT (C(rtts_ms)) and the last send and receive times
        (C(last_send_time), C(last_recv_time)) of each target.
      - By default each target carries only its statistics (with C(last_rtt_ms),
        the RTT of the last answered request), whose size does not grow with
        O(count), and leaves out what holds nothing - C(error) when there is none,
        C(duplicates) and C(late) when 0, the figures the replies do not give
        (every RTT figure without a reply, the percentiles below 20 and 100), and
        C(median_rtt_ms) where it equals C(p50_rtt_ms). Every report and filter
        of this collection reads a missing count as 0, a missing median as the
        p50 and any other missing figure as null.
      - On N nodes every host returns N - 1 targets per address family, and
        Ansible's controller handles every key and value of every host's result,
        so on large inventories the size of the result, more than the probing,
        decides how long C(ansible all -m nlm_probe) takes.
    type: bool
    default: false
  peers:
    description:
      - Action plugin. The hosts to probe when O(targets) is omitted; a group
        name or a list of inventory host names. This host is always left out.
      - Defaults to every host of the play (C(ansible_play_hosts_all)).
    type: raw
  target:
    description:
      - Action plugin. Which addresses of a peer to probe. V(gateway) uses the
        gateway interface's addresses (C(antrea-gw0)), V(transport) the
        transport interface's.
      - V(auto) follows the peer's C(nlm_traffic_mode) as Antrea does, with
        transport addresses in C(networkPolicyOnly) mode, gateway addresses
        in C(encap), C(noEncap) and C(hybrid) mode; without a traffic mode,
        gateway addresses when known, else transport addresses.
    type: str
    choices: [auto, gateway, transport]
    default: auto
  ip_versions:
    description:
      - Action plugin. IP families of the peers' addresses to probe, for example only V(ipv4)
        where the ICMPv6 allow rules are not wanted. Explicit O(targets) are probed as given.
    type: list
    elements: str
    choices: [ipv4, ipv6]
    default: [ipv4, ipv6]
  max_peers:
    description:
      - Action plugin. Probe at most this many peers per run. V(0) probes all.
      - The sample is stable, the same for the same peers in every run and in
        any inventory order. Each host and its peers sit on a ring at the hash
        of their names, and each host probes the O(max_peers) that follow it,
        as the nlm agent (C(nlm_monitor_max_peers)) does. When the probing
        hosts are among the peers (by default, the play's hosts), every host
        is probed by O(max_peers) others, and a host that joins or leaves
        changes the sample of the O(max_peers) hosts before it only.
      - Keeps large inventories at N x K probes per run instead of N x N.
    type: int
    default: 0
  rotation:
    description:
      - Action plugin. Moves the O(max_peers) sample along the same ring by
        O(max_peers) peers per step (a counter of runs, say), so that with N
        peers ceil(N / O(max_peers)) successive values cover every peer; in
        each, every host is still probed by O(max_peers) others.
      - When omitted, the stable sample (the same as V(0)).
    type: int
  skip_unresolved:
    description:
      - Action plugin. With V(false), a peer without a usable address fails
        the task with one message naming every such peer. With V(true), each
        is skipped with a warning.
    type: bool
    default: false
notes:
  - RTTs, jitter and standard deviation are in milliseconds; times are
    RFC 3339 UTC strings.
  - Interface names are checked as the kernel checks them before anything is sent.
seealso:
  - module: nodelatency.monitor.nlm_facts
  - module: nodelatency.monitor.nlm_icmp_allow
"""

EXAMPLES = r"""
---
- name: Measure latency between every pair of nodes (peers and addresses from the inventory)
  nodelatency.monitor.nlm_probe:

- name: Probe the transport addresses of the nodes in group workers, 10 rounds
  nodelatency.monitor.nlm_probe:
    peers: workers
    target: transport
    count: 10
    interval: 1

- name: Probe given addresses through antrea-gw0 only
  nodelatency.monitor.nlm_probe:
    interface: antrea-gw0
    targets:
      - name: node2
        address: [198.18.1.1, "2001:db8:1::1"]
      - 198.18.2.1

- name: On a large inventory, probe a stable sample of 10 peers per node
  nodelatency.monitor.nlm_probe:
    max_peers: 10
    skip_unresolved: true

- name: Probe the next 10 peers on the ring each hour, every peer within a day on 241 nodes
  nodelatency.monitor.nlm_probe:
    max_peers: 10
    rotation: "{{ now().hour }}"

- name: Keep every RTT and the time stamps of each target
  nodelatency.monitor.nlm_probe:
    count: 20
    keep_rtts: true

- name: Show the average RTT to every peer (null for a target without a reply, whose figures the result leaves out)
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.targets | map(attribute='avg_rtt_ms', default=none) | list }}"
  loop: "{{ ansible_facts.nlm_latency.peers }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts set by the module.
  returned: success
  type: complex
  contains:
    nlm_latency:
      description: Latency from this node to each peer and each of its addresses.
      returned: success
      type: complex
      contains:
        source:
          description: The prober's name (O(name), set by the action plugin to C(inventory_hostname)).
          returned: success
          type: str
          sample: n1
        started:
          description: When the run started (RFC 3339, UTC).
          returned: success
          type: str
          sample: "2026-11-25T23:10:00.123456Z"
        duration_seconds:
          description: How long the measurement took.
          returned: success
          type: float
          sample: 1.2
        settings:
          description:
            - The settings used. C(privileged) is the socket kind actually used
              (V(true) raw, V(false) datagram), or the option's value when
              there was nothing to probe.
          returned: success
          type: dict
          sample:
            count: 3
            interval: 0.2
            timeout: 1.0
            payload_size: 56
            privileged: true
            interface: null
            source: []
        peers:
          description: One item per peer.
          returned: success
          type: list
          elements: dict
          contains:
            name:
              description: The peer's name (its inventory host name, or the name given in O(targets)).
              returned: success
              type: str
              sample: n2
            targets:
              description: One item per address of the peer.
              returned: success
              type: list
              elements: dict
              contains:
                address:
                  description: The address probed (canonical form), or the text given when it is not an address.
                  type: str
                  returned: success
                  sample: 198.18.1.1
                family:
                  description: V(ipv4) or V(ipv6); null for a bad address.
                  type: str
                  returned: success
                  sample: ipv4
                sent:
                  description: Echo requests sent, including those the local kernel refused (see RV(ansible_facts.nlm_latency.peers[].targets[].error)).
                  type: int
                  returned: success
                  sample: 3
                received:
                  description: Replies received within the timeout.
                  type: int
                  returned: success
                  sample: 3
                loss:
                  description: 1 - received / sent, from 0.0 to 1.0; 1.0 when nothing was sent.
                  type: float
                  returned: success
                  sample: 0.0
                min_rtt_ms:
                  description: Smallest RTT in milliseconds; null without replies.
                  type: float
                  returned: when there are replies, or O(keep_rtts) is true
                  sample: 0.051
                avg_rtt_ms:
                  description: Mean RTT in milliseconds; null without replies.
                  type: float
                  returned: when there are replies, or O(keep_rtts) is true
                  sample: 0.058
                max_rtt_ms:
                  description: Largest RTT in milliseconds; null without replies.
                  type: float
                  returned: when there are replies, or O(keep_rtts) is true
                  sample: 0.067
                median_rtt_ms:
                  description:
                    - Median RTT in milliseconds; null without replies. With an odd number of replies it is the
                      p50 (both are the middle one), and the compact result leaves it out.
                  type: float
                  returned: when it differs from the p50 (an even number of replies), or O(keep_rtts) is true
                  sample: 0.057
                stddev_rtt_ms:
                  description: Population standard deviation of the RTTs in milliseconds (ping's mdev); null without replies.
                  type: float
                  returned: when there are replies, or O(keep_rtts) is true
                  sample: 0.006
                jitter_ms:
                  description: Mean absolute difference between consecutive RTTs in milliseconds; null with fewer than two replies.
                  type: float
                  returned: with two replies or more, or O(keep_rtts) true
                  sample: 0.008
                p50_rtt_ms:
                  description:
                    - The 50th percentile (nearest rank) of the RTTs in milliseconds; null with fewer than two replies.
                  type: float
                  returned: with two replies or more, or O(keep_rtts) true
                  sample: 0.057
                p95_rtt_ms:
                  description:
                    - The 95th percentile (nearest rank) of the RTTs in milliseconds; null with fewer than 20 replies, where
                      no RTT would lie above it (set O(count) to 20 or more).
                  type: float
                  returned: with 20 replies or more, or O(keep_rtts) true
                  sample: null
                p99_rtt_ms:
                  description:
                    - The 99th percentile (nearest rank) of the RTTs in milliseconds; null with fewer than 100 replies.
                  type: float
                  returned: with 100 replies or more, or O(keep_rtts) true
                  sample: null
                last_rtt_ms:
                  description:
                    - RTT in milliseconds of the answered request with the highest sequence number (what Antrea
                      reports as C(lastMeasuredRTT)); null without replies.
                  type: float
                  returned: when there are replies, or O(keep_rtts) is true
                  sample: 0.067
                rtts_ms:
                  description: Every RTT in milliseconds, in sequence order.
                  type: list
                  elements: float
                  returned: when O(keep_rtts) is true
                  sample: [0.051, 0.057, 0.067]
                duplicates:
                  description: Extra replies to a request already answered (not counted in RV(ansible_facts.nlm_latency.peers[].targets[].received)).
                  type: int
                  returned: when not 0, or O(keep_rtts) is true
                  sample: 0
                late:
                  description: Replies that came after their request's timeout (counted as lost).
                  type: int
                  returned: when not 0, or O(keep_rtts) is true
                  sample: 0
                last_send_time:
                  description: When the last request was sent (RFC 3339, UTC); null if none was.
                  type: str
                  returned: when O(keep_rtts) is true
                  sample: "2026-11-25T23:10:00.523456Z"
                last_recv_time:
                  description: Kernel receive time of the last reply within the timeout (RFC 3339, UTC); null if none came.
                  type: str
                  returned: when O(keep_rtts) is true
                  sample: "2026-11-25T23:10:00.523513Z"
                error:
                  description:
                    - Why this target has no (or not all) replies, when known, for
                      example an ICMP destination unreachable and who sent it, a
                      send the local kernel refused, or a bad address. Null
                      otherwise; plain timeouts show only in the loss.
                  type: str
                  returned: when there is one, or O(keep_rtts) is true
                  sample: destination unreachable (host unreachable) from 198.18.0.1
"""

import socket

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.nodelatency.monitor.plugins.module_utils._deferred_import import defer_import
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._ifname import interface_name_problem
from ansible_collections.nodelatency.monitor.plugins.module_utils._probe_args import MUTUALLY_EXCLUSIVE, argument_spec
from ansible_collections.nodelatency.monitor.plugins.module_utils._respawn import respawn_with_library

if __name__ == "__main__":
    # In the module's own process only (not where the file is imported, by ansible-doc
    # or the sanity tests, say): icmplib imports asyncio for its async API, which the probe does
    # not use. asyncio, with the ssl, logging and concurrent.futures it imports, costs
    # each run about 15 ms of CPU time, a third of what this module's start-up costs
    # beyond ansible.builtin.ping's, and every host pays it in every run.
    defer_import("asyncio")

from ansible_collections.nodelatency.monitor.plugins.module_utils import _probe, _probe_ledger, _probe_socket

MAX_PAYLOAD_SIZE = 65507


def option_problems(params):
    """Messages for every option value the probe cannot use."""
    problems = []
    if not 1 <= params["count"] <= _probe_ledger.MAX_SEQUENCE + 1:
        problems.append("count must be between 1 and %d, got %d" % (_probe_ledger.MAX_SEQUENCE + 1, params["count"]))
    if not 0.001 <= params["interval"] <= 3600:
        problems.append("interval must be between 0.001 and 3600 seconds, got %s" % params["interval"])
    if not 0.001 <= params["timeout"] <= 3600:
        problems.append("timeout must be between 0.001 and 3600 seconds, got %s" % params["timeout"])
    if not _probe_ledger.NONCE_LENGTH <= params["payload_size"] <= MAX_PAYLOAD_SIZE:
        problems.append("payload_size must be between %d and %d bytes, got %d"
                        % (_probe_ledger.NONCE_LENGTH, MAX_PAYLOAD_SIZE, params["payload_size"]))
    if params["interface"] is not None:
        problem = interface_name_problem(params["interface"])
        if problem:
            problems.append(problem)
    return problems


def privileged_choice(value):
    """'auto', True or False from the privileged option; ValueError otherwise."""
    if isinstance(value, str) and value.lower() == "auto":
        return "auto"
    return boolean(value, strict=True)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), mutually_exclusive=MUTUALLY_EXCLUSIVE,
                           supports_check_mode=True)
    if _probe_socket.ICMPLIB_IMPORT_ERROR:
        respawn_with_library("icmplib")
        module.fail_json(msg=missing_required_lib("icmplib"), exception=_probe_socket.ICMPLIB_IMPORT_TRACEBACK)
    params = module.params
    problems = option_problems(params)
    try:
        privileged = privileged_choice(params["privileged"])
    except TypeError:
        problems.append("privileged must be auto, true or false, got %r" % (params["privileged"],))
    if problems:
        module.fail_json(msg="nlm_probe: %s" % "; ".join(problems))
    try:
        latency = _probe.measure(
            name=params["name"] or socket.gethostname(),
            targets=params["targets"] or [],
            count=params["count"],
            interval=params["interval"],
            timeout=params["timeout"],
            payload_size=params["payload_size"],
            privileged=privileged,
            interface=params["interface"],
            sources=params["source"],
            keep_rtts=params["keep_rtts"],
        )
    except NlmError as err:
        module.fail_json(msg="nlm_probe: %s" % err.message, **err.fail_kwargs())
    module.exit_json(changed=False, ansible_facts={"nlm_latency": latency})


if __name__ == "__main__":
    main()
