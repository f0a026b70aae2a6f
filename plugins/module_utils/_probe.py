# -*- coding: utf-8 -*-
# Copyright: contributors to nodelatency.monitor
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nlm_probe engine: ICMP echo to many addresses at once, one socket per IP family.

Send times come from CLOCK_REALTIME read right before sendto; receive times
from the kernel (SO_TIMESTAMPNS, also CLOCK_REALTIME), so the event loop's
wake-up latency is not part of any RTT. Replies count only when identifier,
sequence, source address and the run's payload nonce all match a request sent
in this run, and only within the per-probe timeout.
"""

from __future__ import annotations

import errno
import math
import os
import select
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
    build_echo_request,
    describe_error,
    parse_message,
    parse_quoted_request,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._probe_stats import (
    loss_ratio,
    rfc3339,
    rtt_summary,
    rtts_ms,
)

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

NONCE_LENGTH = 8
MAX_SEQUENCE = 0xFFFF
# Room for every reply in a burst from 1,000 targets (about 1 KiB of buffer
# accounting each) before the loop gets to read them.
RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
_TIMESPEC = struct.Struct("@ll")
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


def canonical_address(text):
    """(family, canonical text) of an IP address literal; ValueError with a reason otherwise.

    Canonical is the kernel's own spelling (inet_ntop), the one recvmsg reports
    the sources of replies in, so that matching needs no parsing per packet.
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


def _without_zone(text):
    """Link-local sources come back as 'fe80::1%eth0'."""
    return text.split("%", 1)[0] if "%" in text else text


class Ledger:
    """Every echo request of one run and what became of it. No sockets: unit tests drive it with crafted packets."""

    def __init__(self, addresses, identifiers, nonce, timeout_ns, clock=time.monotonic_ns):
        """addresses: canonical target addresses; identifiers: {family: echo identifier the socket uses};
        clock: the monotonic clock that send and receive times are given on, when they are."""
        self._clock = clock
        self._identifiers = identifiers
        self._nonce = nonce
        self._timeout_ns = timeout_ns
        self._targets = dict((address, _new_record()) for address in addresses)
        self._pending = {}
        self._answered = set()
        self.outstanding = 0

    def _note_error(self, address, error):
        target = self._targets[address]
        if target["error"] is None:
            target["error"] = error

    def sent(self, address, sequence, send_ns, send_mono_ns=None):
        """send_ns: the wall clock, for the time stamp; send_mono_ns: the monotonic clock, for the RTT
        (without it, RTTs are taken on the wall clock)."""
        target = self._targets[address]
        target["sent"] += 1
        target["last_send_ns"] = send_ns
        self._pending[(address, sequence)] = send_ns if send_mono_ns is None else send_mono_ns
        self.outstanding += 1

    def send_failed(self, address, send_ns, error):
        """The local kernel refused the request: it counts as sent and lost, and the reason is kept."""
        target = self._targets[address]
        target["sent"] += 1
        target["last_send_ns"] = send_ns
        self._note_error(address, "send failed: %s" % error)

    def _ours(self, family, message):
        quoted = message.payload[:NONCE_LENGTH]
        return message.identifier == self._identifiers.get(family) and quoted == self._nonce[:len(quoted)]

    def _settle(self, key):
        """True the first time a request is answered (by a reply or an error), False for duplicates."""
        if key in self._answered:
            return False
        self._answered.add(key)
        self.outstanding -= 1
        return True

    def reply(self, family, source, message, recv_ns, recv_mono_ns=None):
        """Account an echo reply from source; returns 'matched', 'late', 'duplicate' or 'foreign'."""
        return self.echo_reply(family, source, message.identifier, message.sequence,
                               message.payload[:NONCE_LENGTH], recv_ns, recv_mono_ns)

    def echo_reply(self, family, source, identifier, sequence, nonce, recv_ns, recv_mono_ns=None):
        """reply() of a reply's fields: the receive loop reads them without building a Message.
        An echo reply carries the request's whole payload back, so it must carry the whole nonce."""
        key = (source, sequence)
        if identifier != self._identifiers.get(family) or nonce != self._nonce or key not in self._pending:
            return "foreign"
        target = self._targets[source]
        if not self._settle(key):
            target["duplicates"] += 1
            return "duplicate"
        sent_ns = self._pending[key]
        if recv_mono_ns is None:
            rtt_ns = recv_ns - sent_ns
        else:
            rtt_ns = recv_mono_ns - sent_ns
            # The kernel stamps a reply on the wall clock, moved to the monotonic one with the
            # offset read when the loop woke up. A clock step between the two spoils it; then
            # the time the loop holds the reply, an upper bound, is the honest figure.
            read_ns = self._clock() - sent_ns
            if not 0 <= rtt_ns <= read_ns:
                rtt_ns = read_ns
        rtt_ns = max(rtt_ns, 0)
        if rtt_ns > self._timeout_ns:
            target["late"] += 1
            return "late"
        target["rtts"][sequence] = rtt_ns
        target["last_recv_ns"] = recv_ns
        return "matched"

    def error(self, family, message, description):
        """Account an ICMP error about one of our requests (message.destination says which)."""
        key = (message.destination, message.sequence)
        if not self._ours(family, message) or key not in self._pending:
            return "foreign"
        if not self._settle(key):
            return "duplicate"
        self._note_error(message.destination, description)
        return "error"

    def results(self):
        """{address: result} in the nlm_latency target shape (without address and family)."""
        return dict((address, _summarize(record)) for address, record in self._targets.items())


def _new_record(error=None):
    return {"sent": 0, "rtts": {}, "duplicates": 0, "late": 0,
            "last_send_ns": None, "last_recv_ns": None, "error": error}


def _summarize(record):
    rtts = [record["rtts"][sequence] for sequence in sorted(record["rtts"])]
    result = {
        "sent": record["sent"],
        "received": len(rtts),
        "loss": loss_ratio(record["sent"], len(rtts)),
        "rtts_ms": rtts_ms(rtts),
        "duplicates": record["duplicates"],
        "late": record["late"],
        "last_send_time": rfc3339(record["last_send_ns"]),
        "last_recv_time": rfc3339(record["last_recv_ns"]),
        "error": record["error"],
    }
    result.update(rtt_summary(rtts))
    return result


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

    def send(self, packet, address):
        """Send to address; returns the CLOCK_REALTIME and CLOCK_MONOTONIC nanoseconds read
        right before sendto, and the error text or None."""
        send_mono_ns = time.monotonic_ns()
        send_ns = time.time_ns()
        try:
            self.sock.sendto(packet, (address, 0))
        except OSError as err:
            return send_ns, send_mono_ns, err.strerror or str(err)
        return send_ns, send_mono_ns, None

    def drain(self, ledger):
        """Read everything queued on the socket into the ledger."""
        family = self.family
        receive = self.sock.recvmsg
        size = self._receive_bytes
        with_ip_header = self._with_ip_header
        reply_type = ICMPV4_ECHO_REPLY if family == 4 else ICMPV6_ECHO_REPLY
        # wall clock minus monotonic clock, to move the kernel's time stamps to the clock the sends are on
        offset_ns = time.time_ns() - time.monotonic_ns()
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
            recv_ns = _kernel_time_ns(ancillary)
            # Echo replies, nearly all of the traffic, are read in place; the rest
            # goes through the packet parser.
            start = (data[0] & 0x0F) * 4 if with_ip_header and data else 0
            if len(data) >= start + _ECHO_HEADER_BYTES and data[start] == reply_type:
                identifier, sequence = _IDENTIFIER_SEQUENCE.unpack_from(data, start + 4)
                source = peer[0] if family == 4 else _without_zone(peer[0])
                ledger.echo_reply(family, source, identifier, sequence,
                                  data[start + _ECHO_HEADER_BYTES:start + _ECHO_HEADER_BYTES + NONCE_LENGTH], recv_ns,
                                  recv_ns - offset_ns)
                continue
            message = parse_message(family, data, with_ip_header)
            if message is None:
                continue
            source = _without_zone(peer[0])
            if message.kind == "reply":
                ledger.reply(family, source, message, recv_ns, recv_ns - offset_ns)
            else:
                message = message._replace(destination=_without_zone(message.destination))
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
            message = Message("error", identifier, sequence, payload, None, None, _without_zone(destination[0]))
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
        ledger = self.ledger
        for family, addresses in self._by_family.items():
            family_socket = self._sockets[family]
            packet = build_echo_request(family, family_socket.identifier, sequence, self._payload)
            send = family_socket.send
            for address in addresses:
                send_ns, send_mono_ns, error = send(packet, address)
                if error:
                    ledger.send_failed(address, send_ns, error)
                else:
                    ledger.sent(address, sequence, send_ns, send_mono_ns)

    def run(self):
        """Probe every address; returns the ledger's results."""
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
        return self.ledger.results()


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


def measure(name, targets, count, interval, timeout, payload_size, privileged="auto", interface=None, sources=()):
    """Probe every target and return the nlm_latency fact (see the module's RETURN)."""
    started_ns = time.time_ns()
    start = time.monotonic()
    peers = []
    # Every distinct address once, in the order given: two peers may share one.
    addresses = {}
    for peer_name, texts in parse_targets(targets):
        peer_targets = []
        for text in texts:
            try:
                family, address = canonical_address(text)
            except ValueError as err:
                target = {"address": text, "family": None}
                target.update(_summarize(_new_record("bad address: %s" % err)))
                peer_targets.append(target)
                continue
            peer_targets.append({"address": address, "family": "ipv%d" % family})
            addresses[address] = None
        peers.append({"name": peer_name, "targets": peer_targets})

    results = {}
    sockets = {}
    unavailable = {}
    if addresses:
        sockets = open_sockets(set(address_family(address) for address in addresses), privileged, sources, interface,
                               unavailable)
        try:
            probed = [address for address in addresses if address_family(address) in sockets]
            if probed:
                results = Prober(probed, count, interval, timeout, payload_size, sockets).run()
        finally:
            for family_socket in sockets.values():
                family_socket.close()
        for address in addresses:
            if address_family(address) in unavailable:
                results[address] = _summarize(_new_record(unavailable[address_family(address)]))

    for peer in peers:
        for target in peer["targets"]:
            if target["family"] is not None:
                target.update(results[target["address"]])
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
