"""ICMP echo packets: building requests, reading replies and errors crafted byte by byte."""

from __future__ import annotations

import socket
import struct

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils import _probe_packet as packet

PAYLOAD = b"NONCE123" + bytes(range(48))


def ipv4_header(source, destination, payload_length, protocol=1):
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_length, 0, 0, 64, protocol, 0,
                       socket.inet_aton(source), socket.inet_aton(destination))


def ipv6_header(source, destination, payload_length, next_header=58):
    return (struct.pack("!IHBB", 6 << 28, payload_length, next_header, 64)
            + socket.inet_pton(socket.AF_INET6, source) + socket.inet_pton(socket.AF_INET6, destination))


def echo(icmp_type, identifier, sequence, payload=PAYLOAD):
    return struct.pack("!BBHHH", icmp_type, 0, 0, identifier, sequence) + payload


def icmp_error(icmp_type, code, quoted):
    return struct.pack("!BBHI", icmp_type, code, 0, 0) + quoted


def test_checksum_of_rfc1071_example():
    # RFC 1071 section 3: the one's complement sum of these words is 0xddf2.
    assert packet.checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2


def test_checksum_pads_odd_length():
    assert packet.checksum(b"\x01") == packet.checksum(b"\x01\x00")


def test_ipv4_request_has_valid_checksum_and_fields():
    data = packet.build_echo_request(4, 0x1234, 7, PAYLOAD)
    assert data[:2] == b"\x08\x00"
    assert struct.unpack("!HH", data[4:8]) == (0x1234, 7)
    assert data[8:] == PAYLOAD
    assert packet.checksum(data) == 0


def test_ipv6_request_leaves_checksum_to_the_kernel():
    data = packet.build_echo_request(6, 0xBEEF, 65535, PAYLOAD)
    assert data[:4] == b"\x80\x00\x00\x00"
    assert struct.unpack("!HH", data[4:8]) == (0xBEEF, 65535)
    assert data[8:] == PAYLOAD


def test_ipv4_reply_from_raw_socket_skips_ip_header():
    reply = echo(0, 0x1234, 7)
    message = packet.parse_message(4, ipv4_header("198.18.0.12", "198.18.0.11", len(reply)) + reply, True)
    assert message == packet.Message("reply", 0x1234, 7, PAYLOAD, 0, 0, None)


def test_ipv4_reply_with_ip_options_uses_header_length():
    reply = echo(0, 1, 2)
    header = bytearray(ipv4_header("198.18.0.12", "198.18.0.11", len(reply) + 4))
    header[0] = 0x46
    message = packet.parse_message(4, bytes(header) + b"\x01\x01\x01\x00" + reply, True)
    assert (message.kind, message.identifier, message.sequence) == ("reply", 1, 2)


def test_ipv4_reply_from_datagram_socket_has_no_ip_header():
    message = packet.parse_message(4, echo(0, 9, 3), False)
    assert (message.kind, message.identifier, message.sequence, message.payload) == ("reply", 9, 3, PAYLOAD)


def test_ipv6_reply():
    message = packet.parse_message(6, echo(129, 0xBEEF, 1), False)
    assert (message.kind, message.identifier, message.sequence) == ("reply", 0xBEEF, 1)


@pytest.mark.parametrize("family, icmp_type", [(4, 8), (4, 5), (6, 128), (6, 135), (6, 0)])
def test_requests_and_other_types_are_not_replies(family, icmp_type):
    assert packet.parse_message(family, echo(icmp_type, 1, 1), False) is None


@pytest.mark.parametrize("data", [b"", b"\x00\x00\x00", b"\x00" * 7])
def test_truncated_messages_are_ignored(data):
    assert packet.parse_message(4, data, False) is None
    assert packet.parse_message(6, data, False) is None


def test_short_ipv4_packet_is_ignored():
    assert packet.parse_message(4, b"\x45" + b"\x00" * 10, True) is None


def test_ipv4_unreachable_names_the_original_destination():
    request = echo(8, 0x1234, 5)
    quoted = ipv4_header("198.18.0.11", "198.19.9.1", len(request)) + request
    error = icmp_error(3, 1, quoted)
    data = ipv4_header("198.18.0.1", "198.18.0.11", len(error)) + error
    message = packet.parse_message(4, data, True)
    assert message == packet.Message("error", 0x1234, 5, PAYLOAD, 3, 1, "198.19.9.1")


def test_ipv4_error_quoting_only_eight_bytes_of_the_request():
    request = echo(8, 0x1234, 5, payload=b"")
    quoted = ipv4_header("198.18.0.11", "198.19.9.1", 64) + request
    message = packet.parse_message(4, icmp_error(11, 0, quoted), False)
    assert (message.kind, message.sequence, message.payload, message.destination) == ("error", 5, b"", "198.19.9.1")


def test_ipv6_unreachable_names_the_original_destination():
    request = echo(128, 0xBEEF, 2)
    quoted = ipv6_header("2001:db8::b", "2001:db8:1:9::1", len(request)) + request
    message = packet.parse_message(6, icmp_error(1, 3, quoted), False)
    assert message == packet.Message("error", 0xBEEF, 2, PAYLOAD, 1, 3, "2001:db8:1:9::1")


def test_error_about_something_else_than_echo_is_ignored():
    udp = struct.pack("!HHHH", 1000, 53, 8, 0)
    quoted_udp = ipv4_header("198.18.0.11", "198.18.0.12", 8, protocol=17) + udp
    assert packet.parse_message(4, icmp_error(3, 3, quoted_udp), False) is None
    reply = echo(0, 1, 1)
    quoted_reply = ipv4_header("198.18.0.11", "198.18.0.12", len(reply)) + reply
    assert packet.parse_message(4, icmp_error(3, 3, quoted_reply), False) is None
    quoted_v6_udp = ipv6_header("2001:db8::b", "2001:db8::c", 8, next_header=17) + udp
    assert packet.parse_message(6, icmp_error(1, 4, quoted_v6_udp), False) is None


def test_error_quoting_a_truncated_header_is_ignored():
    assert packet.parse_message(4, icmp_error(3, 1, b"\x45\x00"), False) is None
    assert packet.parse_message(6, icmp_error(1, 0, b"\x60" + b"\x00" * 10), False) is None


def test_quoted_request_from_the_error_queue():
    assert packet.parse_quoted_request(4, echo(8, 77, 3)) == (77, 3, PAYLOAD)
    assert packet.parse_quoted_request(6, echo(128, 77, 3)) == (77, 3, PAYLOAD)
    assert packet.parse_quoted_request(4, echo(0, 77, 3)) is None
    assert packet.parse_quoted_request(6, b"\x80\x00") is None


@pytest.mark.parametrize("family, icmp_type, code, text", [
    (4, 3, 1, "destination unreachable (host unreachable)"),
    (4, 3, 13, "destination unreachable (communication administratively prohibited)"),
    (4, 3, 15, "destination unreachable (code 15)"),
    (4, 11, 0, "time exceeded (code 0)"),
    (6, 1, 1, "destination unreachable (communication administratively prohibited)"),
    (6, 1, 3, "destination unreachable (address unreachable)"),
    (6, 2, 0, "packet too big (code 0)"),
    (6, 200, 0, "ICMP error type 200 (code 0)"),
])
def test_describe_error(family, icmp_type, code, text):
    assert packet.describe_error(family, icmp_type, code) == text
