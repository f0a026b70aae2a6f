# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parts of the continuous monitor (the nlm agent) that do not need a socket.

The agent probes with the same engine as nlm_probe (``_probe.measure``); what is here
decides whom it probes and when, reads its peers file, and turns each cycle's result
into metric samples:

- **Peers.** A node probes at most ``max_peers`` peers, chosen on a ring: every node
  sits on the ring at the hash of its name, and probes the ``max_peers`` nodes that
  follow it. The choice is stable (a node joining or leaving changes the peers of the
  ``max_peers`` nodes before it only), packets and series grow as N x K, and every
  node is probed by its K predecessors. Rendezvous hashing per prober, the other
  stable choice, leaves some nodes probed by nobody.
- **When.** Cycles start every ``interval`` seconds from a per-node offset (the hash of
  its name within the interval), with a small random jitter per cycle, so that a fleet
  started together does not probe in lockstep, as Antrea's agents do not.
- **Peers file.** JSON, rendered by the role from the inventory:
  ``{"source": "n1", "interval": 60, "max_peers": 0, "count": 3, "timeout": 1.0,
  "peers": [{"name": "n2", "address": ["198.19.2.1", "2001:db8:1:2::1"]}, ...],
  "rules": {"interfaces": ["antrea-gw0"], "repair": false, ...}}``; ``rules`` (the owned
  rules to watch, as nlm_icmp_allow's options) is optional.
  A file that cannot be read or is malformed raises ``NlmError`` with what is wrong;
  the agent keeps its previous peers then.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import random

from ansible_collections.nodelatency.monitor.plugins.module_utils._agent_rules import rules_settings
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError

DEFAULT_INTERVAL = 60.0
MIN_INTERVAL = 1.0
# A cycle's start moves by up to this share of the interval, either way.
JITTER_SHARE = 0.05
# Histogram buckets in seconds: from 50 microseconds (ICMP between LAN neighbours),
# doubling up to about 26 s, as smokeping_prober's.
RTT_BUCKETS = tuple(0.00005 * 2 ** power for power in range(20))
SETTINGS = {
    "interval": (float, DEFAULT_INTERVAL),
    "max_peers": (int, 0),
    "count": (int, 3),
    "probe_interval": (float, 0.2),
    "timeout": (float, 1.0),
    "payload_size": (int, 56),
}


def ring_position(name):
    """Where ``name`` sits on the ring: the first 8 bytes of its SHA-256, as a number."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")


def sample_peers(source, names, max_peers, rotation=0):
    """The peers ``source`` probes: all others when ``max_peers`` is 0 or covers them,
    else the ``max_peers`` nodes that follow it on the ring (in ring order).

    ``rotation`` moves that window by ``max_peers`` along the same ring, skipping
    ``source``: ceil((N - 1) / max_peers) successive rotations cover every peer, and in
    each one every node is still probed by ``max_peers`` others (nlm_probe's action
    plugin; the agent keeps rotation 0)."""
    others = sorted(set(names) - {source})
    if max_peers <= 0 or max_peers >= len(others):
        return others
    ring = sorted(set(others) | {source}, key=lambda name: (ring_position(name), name))
    start = ring.index(source)
    following = ring[start + 1:] + ring[:start]
    shift = rotation * max_peers
    return [following[(shift + step) % len(following)] for step in range(max_peers)]


def cycle_offset(source, interval):
    """The node's own start within each interval, in seconds."""
    return (ring_position("offset:" + source) % 1000000) / 1000000.0 * interval


def next_start(source, interval, now, rng=random):
    """The time of the next cycle after ``now``: on the node's offset within the interval,
    moved by a jitter of at most JITTER_SHARE of the interval."""
    offset = cycle_offset(source, interval)
    # a cycle that the jitter started early still counts as its slot's: the next is the
    # slot after that one, not the same slot again
    periods = (now - offset + JITTER_SHARE * interval) // interval + 1
    return offset + periods * interval + rng.uniform(-JITTER_SHARE, JITTER_SHARE) * interval


def _check_address(text, where):
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        raise NlmError("%s: %r is not an IP address" % (where, text))


def parse_peers_file(text, path="peers file"):
    """The agent's settings and peers from the peers file's text; NlmError when malformed."""
    try:
        data = json.loads(text)
    except ValueError as err:
        raise NlmError("%s is not JSON: %s" % (path, err))
    if not isinstance(data, dict):
        raise NlmError("%s must hold a JSON object, not %s" % (path, type(data).__name__))
    source = data.get("source")
    if not isinstance(source, str) or not source:
        raise NlmError("%s: source must be this node's name" % path)
    settings = {"source": source}
    for key, (kind, default) in SETTINGS.items():
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise NlmError("%s: %s must be a number, not %r" % (path, key, value))
        settings[key] = kind(value)
    if settings["interval"] < MIN_INTERVAL:
        raise NlmError("%s: interval must be at least %g s, not %g" % (path, MIN_INTERVAL, settings["interval"]))
    if settings["count"] < 1 or settings["timeout"] <= 0 or settings["probe_interval"] < 0 or settings["max_peers"] < 0:
        raise NlmError("%s: count must be at least 1, timeout above 0, probe_interval and max_peers 0 or more" % path)
    peers = data.get("peers")
    if not isinstance(peers, list):
        raise NlmError("%s: peers must be a list of {name, address}" % path)
    seen = set()
    parsed = []
    for position, peer in enumerate(peers):
        where = "%s: peers[%d]" % (path, position)
        if not isinstance(peer, dict) or not isinstance(peer.get("name"), str) or not peer["name"]:
            raise NlmError("%s must be an object with a name" % where)
        addresses = peer.get("address")
        if isinstance(addresses, str):
            addresses = [addresses]
        if not isinstance(addresses, list) or not addresses or not all(isinstance(a, str) for a in addresses):
            raise NlmError("%s (%s): address must be an address or a non-empty list of them" % (where, peer["name"]))
        for address in addresses:
            _check_address(address, "%s (%s)" % (where, peer["name"]))
        if peer["name"] in seen:
            raise NlmError("%s: %s appears twice" % (where, peer["name"]))
        seen.add(peer["name"])
        parsed.append({"name": peer["name"], "address": list(addresses)})
    settings["peers"] = parsed
    settings["rules"] = rules_settings(data.get("rules"), path)
    return settings


def chosen_targets(settings):
    """The nlm_probe-style targets of this node's sample of peers."""
    by_name = dict((peer["name"], peer) for peer in settings["peers"])
    names = sample_peers(settings["source"], list(by_name) + [settings["source"]], settings["max_peers"])
    return [{"name": name, "address": by_name[name]["address"]} for name in names]
