# -*- coding: utf-8 -*-
# Copyright: contributors to nodelatency.monitor
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The targets of a probe: the option's shapes, and addresses in the kernel's own
spelling (the one recvmsg reports the sources of replies in, so that matching a reply
needs no parsing per packet)."""

from __future__ import annotations

import functools
import socket

from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError


@functools.lru_cache(maxsize=4096)
def canonical_address(text):
    """(family, canonical text) of an IP address literal; ValueError with a reason otherwise.

    Canonical is the kernel's own spelling (inet_ntop), the one recvmsg reports
    the sources of replies in, so that matching needs no parsing per packet. Kept per
    text: the agent parses the same peers' addresses every cycle.
    """
    if "%" in text:
        raise ValueError("zone index in %r is not supported; give the address without it and set interface" % text)
    for family, address_family in ((4, socket.AF_INET), (6, socket.AF_INET6)):
        try:
            return family, socket.inet_ntop(address_family, socket.inet_pton(address_family, text))
        except (OSError, ValueError):
            continue
    raise ValueError("%r is not an IPv4 or IPv6 address" % text)


def address_family(address):
    """4 or 6 for a canonical address."""
    return 6 if ":" in address else 4


def without_zone(text):
    """Link-local sources come back as 'fe80::1%eth0'."""
    return text.split("%", 1)[0] if "%" in text else text


def parse_targets(targets):
    """[(peer name, [address text, ...])] from the targets option: address strings, or dicts with name and address.

    Raises NlmError for items of the wrong shape; addresses are judged later, one by one.
    """
    peers = []
    for position, item in enumerate(targets):
        if isinstance(item, str):
            peers.append((item, [item]))
            continue
        if not isinstance(item, dict) or "address" not in item:
            raise NlmError("targets[%d] must be an address or a dict with name and address, got %r" % (position, item))
        addresses = item["address"]
        if isinstance(addresses, str):
            addresses = [addresses]
        if not isinstance(addresses, list) or not all(isinstance(address, str) for address in addresses):
            raise NlmError("targets[%d].address must be an address or a list of addresses, got %r"
                           % (position, item["address"]))
        if not addresses:
            raise NlmError("targets[%d].address is empty: give at least one address" % position)
        peers.append((str(item.get("name") or addresses[0]), addresses))
    return peers
