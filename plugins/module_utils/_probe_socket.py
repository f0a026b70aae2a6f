# -*- coding: utf-8 -*-
# Copyright: contributors to nodelatency.monitor
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probe's sockets: one icmplib socket per IP family, raw where allowed, else an
unprivileged datagram socket, bound to a source or an interface, with the kernel's
receive timestamps and its reports of ICMP errors (RECVERR) switched on."""

from __future__ import annotations

import errno
import os
import socket
import struct
import time
import traceback

try:
    from icmplib import ICMPv4Socket, ICMPv6Socket
    from icmplib.exceptions import ICMPLibError, SocketAddressError, SocketPermissionError
except ImportError:
    ICMPLIB_IMPORT_ERROR = True
    ICMPLIB_IMPORT_TRACEBACK = traceback.format_exc()
else:
    ICMPLIB_IMPORT_ERROR = False
    ICMPLIB_IMPORT_TRACEBACK = None

from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._probe_packet import (
    ICMPV4_ECHO_REPLY,
    ICMPV6_ECHO_REPLY,
    Message,
    describe_error,
    parse_message,
    parse_quoted_request,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._probe_ledger import NONCE_LENGTH
from ansible_collections.nodelatency.monitor.plugins.module_utils._probe_targets import canonical_address, without_zone


# bound once: a send reads both clocks, and the loop sends every echo of a cycle
_monotonic_ns = time.monotonic_ns
_time_ns = time.time_ns

# Linux socket API values that Python's socket module does not name
# (generic ABI: x86, arm, arm64, riscv, powerpc, s390).
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
SOL_RAW = 255
ICMP_FILTER = 1
ICMP6_FILTER = 1
IP_RECVERR = 11
IPV6_RECVERR = 25
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3

# Room for every reply in a burst from 1,000 targets (about 1 KiB of buffer
# accounting each) before the loop gets to read them.
RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
_TIMESPEC = struct.Struct("@ll")
_TIMESPEC_BYTES = _TIMESPEC.size
_SOL_SOCKET = socket.SOL_SOCKET
_IDENTIFIER_SEQUENCE = struct.Struct("!HH")
# Pending socket errors (one per ICMP error that RECVERR reports) read in one go before the
# rest waits for the next wake-up.
_MAX_SOCKET_ERRORS = 64
_ECHO_HEADER_BYTES = 8
_EXTENDED_ERROR = struct.Struct("@IBBBBII")
_ANCILLARY_BYTES = 512
# ICMP types a raw socket lets through: echo reply and the errors that quote a request.
_RAW_ICMPV4_WANTED = (0, 3, 11, 12)
_RAW_ICMPV6_WANTED = (1, 2, 3, 4, 129)


def _ping_group_range():
    try:
        with open("/proc/sys/net/ipv4/ping_group_range") as handle:
            return handle.read().split()
    except OSError:
        return ["unknown"]


def _permission_message(privileged):
    raw = ("raw ICMP sockets need CAP_NET_RAW (run the task as root, for example with become: true)")
    groups = sorted(set([os.getegid()] + os.getgroups()))
    dgram = ("unprivileged ICMP sockets need one of this process's groups (%s) inside net.ipv4.ping_group_range, "
             "which is '%s' here (for example: sysctl -w net.ipv4.ping_group_range='%d %d')"
             % (", ".join(str(gid) for gid in groups), " ".join(_ping_group_range()), groups[0], groups[-1]))
    if privileged is True:
        return "cannot open a raw ICMP socket: %s; or set privileged to auto or false" % raw
    if privileged is False:
        return "cannot open an unprivileged ICMP socket: %s; or set privileged to auto or true" % dgram
    return "cannot open an ICMP socket: %s, and %s" % (raw, dgram)


class FamilyUnavailable(NlmError):
    """One IP family cannot be probed on this host (no IPv6 in the kernel, for one): its
    targets fail, the other family's are still probed."""


class FamilySocket:
    """One icmplib socket for every target of one IP family."""

    def __init__(self, family, privileged, source=None, interface=None):
        socket_class = ICMPv4Socket if family == 4 else ICMPv6Socket
        try:
            self._icmp = socket_class(address=source, privileged=privileged)
        except SocketPermissionError:
            raise
        except SocketAddressError:
            raise NlmError("source %s is not an address of this host" % source)
        except ICMPLibError as err:
            raise FamilyUnavailable("cannot open an IPv%d ICMP socket: %s" % (family, err))
        self.family = family
        self.privileged = privileged
        self.sock = self._icmp.sock
        self.sock.setblocking(False)
        self._sendto = self.sock.sendto
        self._with_ip_header = privileged and family == 4
        self._receive_bytes = 2048
        try:
            self._configure(source, interface)
        except Exception:
            self._icmp.close()
            raise
        if privileged:
            # Every raw ICMP socket of the network namespace sees every echo
            # reply, so pick an identifier at random; the payload nonce
            # separates the rare collisions.
            self.identifier = int.from_bytes(os.urandom(2), "big")
        else:
            # The kernel gives each datagram ICMP socket its own identifier
            # (its "port") and delivers to it only the replies that carry it.
            self.identifier = self.sock.getsockname()[1]

    def _configure(self, source, interface):
        sock = self.sock
        if interface:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
            except OSError as err:
                if err.errno == errno.ENODEV:
                    raise NlmError("interface %s does not exist" % interface)
                raise NlmError("cannot bind to interface %s: %s (binding needs CAP_NET_RAW)" % (interface, err.strerror))
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER_BYTES)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        if self.privileged:
            self._install_type_filter()
        else:
            # Without RECVERR the kernel drops ICMP errors for unconnected
            # datagram ICMP sockets; with it they arrive on the error queue,
            # naming the request's destination.
            if self.family == 4:
                sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
            if not source:
                sock.bind(("0.0.0.0" if self.family == 4 else "::", 0))

    def _install_type_filter(self):
        """Keep echo requests and foreign ICMP traffic out of the raw socket's buffer."""
        if self.family == 4:
            blocked = 0xFFFFFFFF
            for icmp_type in _RAW_ICMPV4_WANTED:
                blocked &= ~(1 << icmp_type)
            self.sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("@I", blocked))
        else:
            words = [0xFFFFFFFF] * 8
            for icmp_type in _RAW_ICMPV6_WANTED:
                words[icmp_type >> 5] &= ~(1 << (icmp_type & 31))
            self.sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("@8I", *words))

    def fileno(self):
        return self.sock.fileno()

    def set_payload_size(self, payload_size):
        self._receive_bytes = max(2048, payload_size + 1024)

    def send_round(self, packet, addresses, sequence, ledger):
        """Send packet to every address and enter each request in the ledger, stamped on
        CLOCK_REALTIME and CLOCK_MONOTONIC right before its sendto; a send the kernel
        refuses is entered as failed, with its reason. One call per round, not per
        request: this runs for every echo."""
        sendto = self._sendto
        sent = ledger.sent
        for address in addresses:
            send_mono_ns = _monotonic_ns()
            send_ns = _time_ns()
            try:
                sendto(packet, (address, 0))
            except OSError as err:
                ledger.send_failed(address, send_ns, err.strerror or str(err))
            else:
                sent(address, sequence, send_ns, send_mono_ns)

    def drain(self, ledger):
        """Read everything queued on the socket into the ledger."""
        family = self.family
        receive = self.sock.recvmsg
        size = self._receive_bytes
        with_ip_header = self._with_ip_header
        reply_type = ICMPV4_ECHO_REPLY if family == 4 else ICMPV6_ECHO_REPLY
        # wall clock minus monotonic clock, to move the kernel's time stamps to the clock the sends are on
        offset_ns = time.time_ns() - time.monotonic_ns()
        echo_reply = ledger.echo_reply
        unpack_stamp = _TIMESPEC.unpack_from
        unpack_header = _IDENTIFIER_SEQUENCE.unpack_from
        errors = 0
        while True:
            try:
                data, ancillary, _flags, peer = receive(size, _ANCILLARY_BYTES)
            except BlockingIOError:
                break
            except OSError:
                # With RECVERR the kernel also reports an ICMP error once as
                # the socket's pending error; the error queue says which
                # request it was about. An error that does not clear ends the
                # read, and the poll loop's deadline ends the run.
                errors += 1
                if errors > _MAX_SOCKET_ERRORS:
                    break
                continue
            # The time stamp is the only control message the socket asks for: read it
            # in place, and look further only when something else came first.
            recv_ns = None
            if len(ancillary) == 1:
                level, kind, stamp = ancillary[0]
                if kind == SO_TIMESTAMPNS and level == _SOL_SOCKET and len(stamp) >= _TIMESPEC_BYTES:
                    seconds, nanoseconds = unpack_stamp(stamp)
                    recv_ns = seconds * 1_000_000_000 + nanoseconds
            if recv_ns is None:
                recv_ns = _kernel_time_ns(ancillary)
            # Echo replies, nearly all of the traffic, are read in place; the rest
            # goes through the packet parser.
            start = (data[0] & 0x0F) * 4 if with_ip_header and data else 0
            if len(data) >= start + _ECHO_HEADER_BYTES and data[start] == reply_type:
                identifier, sequence = unpack_header(data, start + 4)
                echo_reply(family, peer[0] if family == 4 else without_zone(peer[0]), identifier, sequence,
                           data[start + _ECHO_HEADER_BYTES:start + _ECHO_HEADER_BYTES + NONCE_LENGTH], recv_ns,
                           recv_ns - offset_ns)
                continue
            message = parse_message(family, data, with_ip_header)
            if message is None:
                continue
            source = without_zone(peer[0])
            if message.kind == "reply":
                ledger.reply(family, source, message, recv_ns, recv_ns - offset_ns)
            else:
                message = message._replace(destination=without_zone(message.destination))
                ledger.error(family, message,
                             "%s from %s" % (describe_error(family, message.icmp_type, message.icmp_code), source))
        if not self.privileged:
            self._drain_error_queue(ledger)

    def _drain_error_queue(self, ledger):
        while True:
            try:
                data, ancillary, _flags, destination = self.sock.recvmsg(
                    self._receive_bytes, _ANCILLARY_BYTES, socket.MSG_ERRQUEUE)
            except BlockingIOError:
                break
            quoted = parse_quoted_request(self.family, data)
            description = _describe_extended_error(self.family, ancillary)
            if quoted is None or description is None:
                continue
            identifier, sequence, payload = quoted
            message = Message("error", identifier, sequence, payload, None, None, without_zone(destination[0]))
            ledger.error(self.family, message, description)

    def close(self):
        self._icmp.close()


def _kernel_time_ns(ancillary):
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            return seconds * 1_000_000_000 + nanoseconds
    return time.time_ns()


def _describe_extended_error(family, ancillary):
    """'<ICMP error> from <offender>' (or the errno text) of a sock_extended_err control message."""
    for level, kind, data in ancillary:
        if (level, kind) not in ((socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR)):
            continue
        if len(data) < _EXTENDED_ERROR.size:
            return None
        error_number, origin, icmp_type, icmp_code, _pad, _info, _data = _EXTENDED_ERROR.unpack_from(data)
        offender = data[_EXTENDED_ERROR.size:]
        if origin not in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
            return os.strerror(error_number)
        if family == 4 and len(offender) >= 8:
            sender = socket.inet_ntop(socket.AF_INET, offender[4:8])
        elif family == 6 and len(offender) >= 24:
            sender = socket.inet_ntop(socket.AF_INET6, offender[8:24])
        else:
            return describe_error(family, icmp_type, icmp_code)
        return "%s from %s" % (describe_error(family, icmp_type, icmp_code), sender)
    return None


def open_sockets(families, privileged="auto", sources=(), interface=None, unavailable=None):
    """{family: FamilySocket} for the given families; privileged 'auto' tries raw first, then datagram sockets.

    With an ``unavailable`` dict, a family whose socket cannot be opened (FamilyUnavailable) is
    left out and its reason put there; without one, it fails the whole call."""
    by_family = {}
    for source in sources:
        try:
            family, canonical = canonical_address(source)
        except ValueError as err:
            raise NlmError("source must be an IP address of this host: %s" % err)
        if family in by_family:
            raise NlmError("more than one source address for IPv%d: give at most one per family" % family)
        by_family[family] = canonical
    opened = {}
    try:
        for family in sorted(families):
            choices = [True, False] if privileged == "auto" else [privileged]
            try:
                for choice in choices:
                    try:
                        opened[family] = FamilySocket(family, choice, by_family.get(family), interface)
                        break
                    except SocketPermissionError:
                        continue
                else:
                    raise NlmError(_permission_message(privileged))
            except FamilyUnavailable as err:
                if unavailable is None:
                    raise
                unavailable[family] = str(err)
                continue
            # One decision for every family: a mix would make the settings ambiguous.
            privileged = opened[family].privileged
    except Exception:
        for family_socket in opened.values():
            family_socket.close()
        raise
    return opened
