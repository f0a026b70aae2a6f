# -*- coding: utf-8 -*-
# Copyright: contributors to nodelatency.monitor
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ICMP echo packets of nlm_probe: building requests and reading what comes back.

icmplib opens the sockets; its packet codec is private API (underscore
methods), and the prober needs more than it returns: the payload (to check the
run's nonce) and, for ICMP errors, the destination of the request that caused
them. Pure functions, so that unit tests feed them crafted packets.
"""

from __future__ import annotations

import socket
import struct
from collections import namedtuple

ICMPV4_ECHO_REQUEST = 8
ICMPV4_ECHO_REPLY = 0
ICMPV6_ECHO_REQUEST = 128
ICMPV6_ECHO_REPLY = 129

ICMPV4_ERRORS = {
    3: "destination unreachable",
    11: "time exceeded",
    12: "parameter problem",
}
ICMPV4_UNREACHABLE_CODES = {
    0: "network unreachable",
    1: "host unreachable",
    2: "protocol unreachable",
    3: "port unreachable",
    4: "fragmentation needed",
    6: "destination network unknown",
    7: "destination host unknown",
    9: "network administratively prohibited",
    10: "host administratively prohibited",
    13: "communication administratively prohibited",
}
ICMPV6_ERRORS = {
    1: "destination unreachable",
    2: "packet too big",
    3: "time exceeded",
    4: "parameter problem",
}
ICMPV6_UNREACHABLE_CODES = {
    0: "no route to destination",
    1: "communication administratively prohibited",
    3: "address unreachable",
    4: "port unreachable",
    5: "source address failed ingress/egress policy",
    6: "reject route to destination",
}

_ECHO_HEADER = struct.Struct("!BBHHH")
_IPV6_HEADER_LENGTH = 40
_IPPROTO_ICMP = 1
_IPPROTO_ICMPV6 = 58

# kind: "reply" (echo reply) or "error" (an ICMP error about one of our echo
# requests). For errors, destination is the address the request was sent to;
# for replies it is None (the sender of the reply is the socket's peer address).
Message = namedtuple("Message", "kind identifier sequence payload icmp_type icmp_code destination")


def checksum(data):
    """Internet checksum (RFC 1071) of data."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def build_echo_request(family, identifier, sequence, payload):
    """Echo request bytes (ICMP header and payload) for family 4 or 6.

    The IPv6 checksum covers a pseudo-header only the kernel knows, and the
    kernel fills it in for every ICMPv6 socket, so it is left zero here.
    """
    if family == 4:
        header = _ECHO_HEADER.pack(ICMPV4_ECHO_REQUEST, 0, 0, identifier, sequence)
        return _ECHO_HEADER.pack(ICMPV4_ECHO_REQUEST, 0, checksum(header + payload), identifier, sequence) + payload
    return _ECHO_HEADER.pack(ICMPV6_ECHO_REQUEST, 0, 0, identifier, sequence) + payload


def _embedded_echo_request(family, quoted):
    """(destination, identifier, sequence, payload) of the echo request an ICMP error quotes, or None."""
    if family == 4:
        if len(quoted) < 20 or quoted[0] >> 4 != 4 or quoted[9] != _IPPROTO_ICMP:
            return None
        header_length = (quoted[0] & 0x0F) * 4
        destination = socket.inet_ntop(socket.AF_INET, quoted[16:20])
        request = quoted[header_length:]
        request_type = ICMPV4_ECHO_REQUEST
    else:
        # Extension headers between the IPv6 header and ICMPv6 are not
        # followed: the prober never sends any.
        if len(quoted) < _IPV6_HEADER_LENGTH or quoted[0] >> 4 != 6 or quoted[6] != _IPPROTO_ICMPV6:
            return None
        destination = socket.inet_ntop(socket.AF_INET6, quoted[24:40])
        request = quoted[_IPV6_HEADER_LENGTH:]
        request_type = ICMPV6_ECHO_REQUEST
    if len(request) < _ECHO_HEADER.size or request[0] != request_type:
        return None
    identifier, sequence = struct.unpack_from("!HH", request, 4)
    return destination, identifier, sequence, request[_ECHO_HEADER.size:]


def parse_message(family, data, with_ip_header):
    """Read one message from an ICMP socket; None when it is neither an echo reply nor an error about an echo request.

    with_ip_header: True for IPv4 raw sockets, which deliver the IP header too.
    """
    if with_ip_header:
        if len(data) < 20:
            return None
        data = data[(data[0] & 0x0F) * 4:]
    if len(data) < _ECHO_HEADER.size:
        return None
    icmp_type, icmp_code, _checksum, identifier, sequence = _ECHO_HEADER.unpack_from(data)
    if icmp_type == (ICMPV4_ECHO_REPLY if family == 4 else ICMPV6_ECHO_REPLY):
        return Message("reply", identifier, sequence, data[_ECHO_HEADER.size:], icmp_type, icmp_code, None)
    if icmp_type in (ICMPV4_ERRORS if family == 4 else ICMPV6_ERRORS):
        quoted = _embedded_echo_request(family, data[_ECHO_HEADER.size:])
        if quoted is None:
            return None
        destination, identifier, sequence, payload = quoted
        return Message("error", identifier, sequence, payload, icmp_type, icmp_code, destination)
    return None


def parse_quoted_request(family, data):
    """(identifier, sequence, payload) of an echo request the kernel returns on a socket's error queue."""
    request_type = ICMPV4_ECHO_REQUEST if family == 4 else ICMPV6_ECHO_REQUEST
    if len(data) < _ECHO_HEADER.size or data[0] != request_type:
        return None
    identifier, sequence = struct.unpack_from("!HH", data, 4)
    return identifier, sequence, data[_ECHO_HEADER.size:]


def describe_error(family, icmp_type, icmp_code):
    """Readable name of an ICMP error, for example 'destination unreachable (host unreachable)'."""
    names, unreachable, unreachable_type = (
        (ICMPV4_ERRORS, ICMPV4_UNREACHABLE_CODES, 3) if family == 4 else (ICMPV6_ERRORS, ICMPV6_UNREACHABLE_CODES, 1)
    )
    name = names.get(icmp_type, "ICMP error type %d" % icmp_type)
    if icmp_type == unreachable_type:
        return "%s (%s)" % (name, unreachable.get(icmp_code, "code %d" % icmp_code))
    return "%s (code %d)" % (name, icmp_code)
