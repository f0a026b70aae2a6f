# -*- coding: utf-8 -*-
# Copyright: contributors to nodelatency.monitor
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nlm_probe engine: ICMP echo to many addresses at once, one socket per IP family.

measure() takes the targets apart (_probe_targets.py), opens the sockets
(_probe_socket.py) and lets a Prober send every round, interval apart, while the
sockets' replies and errors go into the run's Ledger (_probe_ledger.py). RTTs are on
the monotonic clock: a send is stamped right before sendto, a reply with the kernel's
receive stamp (SO_TIMESTAMPNS) moved to the monotonic clock, so the event loop's
wake-up latency is not part of any RTT and a step of the wall clock is not either.
"""

from __future__ import annotations

import math
import os
import select
import time

from ansible_collections.nodelatency.monitor.plugins.module_utils._probe_ledger import (
    FAMILY_NAMES,
    NONCE_LENGTH,
    Ledger,
    new_record,
    summarize,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._probe_packet import build_echo_request
from ansible_collections.nodelatency.monitor.plugins.module_utils._probe_socket import open_sockets
from ansible_collections.nodelatency.monitor.plugins.module_utils._probe_stats import rfc3339
from ansible_collections.nodelatency.monitor.plugins.module_utils._probe_targets import (
    address_family,
    canonical_address,
    parse_targets,
)


class Prober:
    """One run: count rounds, every target once per round, interval apart; each request waits at most timeout."""

    def __init__(self, addresses, count, interval, timeout, payload_size, sockets):
        """addresses: canonical addresses; sockets: {family: FamilySocket} covering their families."""
        self._by_family = {}
        for address in addresses:
            self._by_family.setdefault(address_family(address), []).append(address)
        self._count = count
        self._interval = interval
        self._timeout = timeout
        self._sockets = sockets
        self._nonce = os.urandom(NONCE_LENGTH)
        filler = bytes(range(256)) * (payload_size // 256 + 1)
        self._payload = self._nonce + filler[:payload_size - NONCE_LENGTH]
        for family_socket in sockets.values():
            family_socket.set_payload_size(payload_size)
        self.ledger = Ledger(
            addresses,
            dict((family, family_socket.identifier) for family, family_socket in sockets.items()),
            self._nonce,
            int(timeout * 1_000_000_000),
        )

    def _send_round(self, sequence):
        for family, addresses in self._by_family.items():
            family_socket = self._sockets[family]
            packet = build_echo_request(family, family_socket.identifier, sequence, self._payload)
            family_socket.send_round(packet, addresses, sequence, self.ledger)

    def run(self, keep_rtts=True):
        """Probe every address; returns the ledger's results (compact without keep_rtts)."""
        poller = select.poll()
        by_descriptor = {}
        for family_socket in self._sockets.values():
            poller.register(family_socket.fileno(), select.POLLIN)
            by_descriptor[family_socket.fileno()] = family_socket
        start = time.monotonic()
        rounds_sent = 0
        end = None
        while True:
            now = time.monotonic()
            if rounds_sent < self._count and now >= start + rounds_sent * self._interval:
                self._send_round(rounds_sent)
                rounds_sent += 1
                if rounds_sent == self._count:
                    end = time.monotonic() + self._timeout
                continue
            if end is not None and (now >= end or self.ledger.outstanding == 0):
                break
            wake = end if end is not None else start + rounds_sent * self._interval
            for descriptor, _events in poller.poll(math.ceil(max(0.0, wake - now) * 1000)):
                by_descriptor[descriptor].drain(self.ledger)
        return self.ledger.results(keep_rtts)


def measure(name, targets, count, interval, timeout, payload_size, privileged="auto", interface=None, sources=(),
            keep_rtts=True):
    """Probe every target and return the nlm_latency fact (see the module's RETURN); without
    keep_rtts each target's result leaves out its RTTs and time stamps."""
    started_ns = time.time_ns()
    start = time.monotonic()
    peers = []
    # Every distinct address once, in the order given, with its family: two peers may share one.
    addresses = {}
    for peer_name, texts in parse_targets(targets):
        peer_targets = []
        for text in texts:
            try:
                family, address = canonical_address(text)
            except ValueError as err:
                peer_targets.append(summarize(new_record("bad address: %s" % err), keep_rtts, text))
                continue
            # the address stands for its result until the run has it
            peer_targets.append(address)
            addresses[address] = family
        peers.append({"name": peer_name, "targets": peer_targets})

    results = {}
    sockets = {}
    unavailable = {}
    if addresses:
        sockets = open_sockets(set(addresses.values()), privileged, sources, interface, unavailable)
        try:
            probed = [address for address, family in addresses.items() if family in sockets]
            if probed:
                results = Prober(probed, count, interval, timeout, payload_size, sockets).run(keep_rtts)
        finally:
            for family_socket in sockets.values():
                family_socket.close()
        for address, family in addresses.items():
            if family in unavailable:
                results[address] = summarize(new_record(unavailable[family]), keep_rtts, address, FAMILY_NAMES[family])

    # each address's result in its place: the result itself, or a copy where a peer
    # before took it (a dict per target, not a merge into one: this runs every cycle)
    placed = set()
    for peer in peers:
        peer_targets = peer["targets"]
        for index, target in enumerate(peer_targets):
            if isinstance(target, str):
                peer_targets[index] = dict(results[target]) if target in placed else results[target]
                placed.add(target)
    used = set(family_socket.privileged for family_socket in sockets.values())
    return {
        "source": name,
        "started": rfc3339(started_ns),
        "duration_seconds": round(time.monotonic() - start, 6),
        "settings": {
            "count": count,
            "interval": interval,
            "timeout": timeout,
            "payload_size": payload_size,
            "privileged": used.pop() if used else privileged,
            "interface": interface,
            "source": list(sources),
        },
        "peers": peers,
    }
