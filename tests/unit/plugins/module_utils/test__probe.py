"""The probe engine: reply matching with crafted packets, the send/receive loop with stand-in sockets."""

from __future__ import annotations

import socket
import struct

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils import _probe, _probe_ledger, _probe_socket, _probe_targets
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._probe_packet import Message, parse_message

NONCE = b"\x01\x02\x03\x04\x05\x06\x07\x08"
PAYLOAD = NONCE + b"x" * 48
IDENTIFIERS = {4: 0x1234, 6: 0x4321}
TIMEOUT_NS = 1_000_000_000
T0 = 1_764_111_600_000_000_000
PEER = "198.18.0.12"
OTHER = "198.18.0.13"
PEER6 = "2001:db8::c"


def reply(identifier=0x1234, sequence=0, payload=PAYLOAD, family=4):
    data = struct.pack("!BBHHH", 0 if family == 4 else 129, 0, 0, identifier, sequence) + payload
    return parse_message(family, data, False)


@pytest.fixture
def ledger():
    ledger = _probe_ledger.Ledger([PEER, OTHER, PEER6], IDENTIFIERS, NONCE, TIMEOUT_NS)
    for sequence in range(2):
        for address in (PEER, OTHER, PEER6):
            ledger.sent(address, sequence, T0 + sequence * 200_000_000)
    return ledger


def test_matching_reply_gives_rtt_from_send_and_kernel_time(ledger):
    assert ledger.reply(4, PEER, reply(sequence=1), T0 + 200_000_000 + 75_000) == "matched"
    result = ledger.results()[PEER]
    assert result["sent"] == 2
    assert result["received"] == 1
    assert result["rtts_ms"] == [0.075]
    assert result["loss"] == 0.5
    assert result["last_send_time"] == "2025-11-25T23:00:00.200000Z"
    assert result["last_recv_time"] == "2025-11-25T23:00:00.200075Z"
    assert ledger.outstanding == 5


def test_reply_from_wrong_source_is_ignored(ledger):
    assert ledger.reply(4, "198.18.0.99", reply(), T0 + 1000) == "foreign"
    assert ledger.reply(4, OTHER, reply(sequence=5), T0 + 1000) == "foreign"
    assert all(result["received"] == 0 for result in ledger.results().values())
    assert ledger.outstanding == 6


def test_reply_with_foreign_identifier_is_ignored(ledger):
    assert ledger.reply(4, PEER, reply(identifier=0x9999), T0 + 1000) == "foreign"
    # The IPv6 socket's identifier does not count on the IPv4 socket.
    assert ledger.reply(4, PEER, reply(identifier=IDENTIFIERS[6]), T0 + 1000) == "foreign"
    assert ledger.results()[PEER]["received"] == 0


def test_reply_with_another_runs_nonce_is_ignored(ledger):
    # Two raw-socket runs can draw the same identifier; the payload nonce tells them apart.
    assert ledger.reply(4, PEER, reply(payload=b"otherrun" + b"x" * 48), T0 + 1000) == "foreign"
    assert ledger.results()[PEER]["received"] == 0


def test_duplicate_reply_counts_once(ledger):
    assert ledger.reply(4, PEER, reply(), T0 + 50_000) == "matched"
    assert ledger.reply(4, PEER, reply(), T0 + 90_000) == "duplicate"
    result = ledger.results()[PEER]
    assert (result["received"], result["duplicates"], result["rtts_ms"]) == (1, 1, [0.05])


def test_late_reply_is_lost_and_counted_as_late(ledger):
    assert ledger.reply(4, PEER, reply(), T0 + TIMEOUT_NS + 1) == "late"
    result = ledger.results()[PEER]
    assert (result["received"], result["late"], result["loss"], result["last_recv_time"]) == (0, 1, 1.0, None)
    assert ledger.outstanding == 5


def test_reply_at_the_timeout_still_counts(ledger):
    assert ledger.reply(4, PEER, reply(), T0 + TIMEOUT_NS) == "matched"


def test_ipv6_reply(ledger):
    assert ledger.reply(6, PEER6, reply(identifier=IDENTIFIERS[6], family=6), T0 + 30_000) == "matched"
    assert ledger.results()[PEER6]["rtts_ms"] == [0.03]


def test_rtts_are_in_sequence_order(ledger):
    ledger.reply(4, PEER, reply(sequence=1), T0 + 200_000_000 + 20_000)
    ledger.reply(4, PEER, reply(sequence=0), T0 + 400_000_000)
    assert ledger.results()[PEER]["rtts_ms"] == [400.0, 0.02]


def test_icmp_error_goes_to_the_target_it_quotes(ledger):
    error = Message("error", 0x1234, 0, NONCE, 3, 1, OTHER)
    assert ledger.error(4, error, "destination unreachable (host unreachable) from 198.18.0.1") == "error"
    results = ledger.results()
    assert results[OTHER]["error"] == "destination unreachable (host unreachable) from 198.18.0.1"
    assert results[OTHER]["received"] == 0
    assert results[PEER]["error"] is None
    assert ledger.outstanding == 5
    assert ledger.error(4, error, "again") == "duplicate"
    assert ledger.error(4, error._replace(identifier=1), "foreign") == "foreign"
    assert ledger.results()[OTHER]["error"].startswith("destination unreachable")


def test_reply_without_the_whole_nonce_is_foreign(ledger):
    # an echo reply carries the request's payload back whole: a short one is not ours
    assert ledger.reply(4, PEER, reply(payload=b""), T0 + 1000) == "foreign"
    assert ledger.reply(4, PEER, reply(payload=NONCE[:4]), T0 + 1000) == "foreign"
    assert ledger.results()[PEER]["received"] == 0


def monotonic_ledger(now):
    ledger = _probe_ledger.Ledger([PEER], IDENTIFIERS, NONCE, TIMEOUT_NS, clock=lambda: now)
    ledger.sent(PEER, 0, T0, 5_000_000)
    return ledger


def test_rtt_is_taken_on_the_monotonic_clock_across_a_wall_clock_step():
    ledger = monotonic_ledger(now=5_000_000 + 90_000)
    # the wall clock went back an hour between send and reply; the monotonic times stand
    assert ledger.reply(4, PEER, reply(), T0 - 3600 * 10**9, 5_000_000 + 70_000) == "matched"
    assert ledger.results()[PEER]["rtts_ms"] == [0.07]


@pytest.mark.parametrize("recv_mono_ns", [5_000_000 - 40_000, 5_000_000 + 500_000])
def test_a_receive_time_spoiled_by_a_step_gives_the_time_the_loop_read_it(recv_mono_ns):
    # before the send, or after the loop held the reply: neither can be, so the bound stands
    ledger = monotonic_ledger(now=5_000_000 + 90_000)
    assert ledger.reply(4, PEER, reply(), T0, recv_mono_ns) == "matched"
    assert ledger.results()[PEER]["rtts_ms"] == [0.09]


def test_an_rtt_is_never_negative():
    ledger = _probe_ledger.Ledger([PEER], IDENTIFIERS, NONCE, TIMEOUT_NS)
    ledger.sent(PEER, 0, T0)
    assert ledger.reply(4, PEER, reply(), T0 - 1000) == "matched"
    assert ledger.results()[PEER]["rtts_ms"] == [0.0]


class FailingSocket:
    """A socket whose every read fails with an error that does not clear."""

    def __init__(self):
        self.reads = 0

    def recvmsg(self, *_args):
        self.reads += 1
        if self.reads > 10_000:
            # a loop without bound would spin here for ever: end it, and the count says so
            raise BlockingIOError()
        raise OSError(101, "Network is unreachable")


def test_an_error_that_does_not_clear_ends_the_read():
    family_socket = object.__new__(_probe_socket.FamilySocket)
    family_socket.family, family_socket.privileged, family_socket._with_ip_header = 4, True, True
    family_socket._receive_bytes = 2048
    family_socket.sock = FailingSocket()
    family_socket.drain(_probe_ledger.Ledger([PEER], IDENTIFIERS, NONCE, TIMEOUT_NS))
    assert family_socket.sock.reads == _probe_socket._MAX_SOCKET_ERRORS + 1


def test_a_family_without_a_socket_fails_its_targets_and_the_other_is_probed(monkeypatch):
    def family_socket(family, privileged, source=None, interface=None):
        if family == 6:
            raise _probe_socket.FamilyUnavailable("cannot open an IPv6 ICMP socket: Address family not supported by protocol")
        return EchoingSocket(4, 0x1111)

    monkeypatch.setattr(_probe_socket, "FamilySocket", family_socket)
    latency = _probe.measure("n1", [{"name": "n2", "address": ["198.18.0.12", "2001:db8::c"]}], count=2,
                             interval=0.001, timeout=0.5, payload_size=56)
    v4, v6 = latency["peers"][0]["targets"]
    assert (v4["received"], v4["error"]) == (2, None)
    assert (v6["family"], v6["sent"], v6["received"], v6["loss"]) == ("ipv6", 0, 0, 1.0)
    assert v6["error"] == "cannot open an IPv6 ICMP socket: Address family not supported by protocol"
    # called for one family alone, the same failure fails the call
    with pytest.raises(_probe_socket.FamilyUnavailable):
        _probe_socket.open_sockets({6}, "auto")


def test_error_quoting_a_truncated_payload_still_matches(ledger):
    assert ledger.error(4, Message("error", 0x1234, 1, b"", 11, 0, PEER), "time exceeded") == "error"


def test_send_failure_counts_as_sent_and_lost():
    ledger = _probe_ledger.Ledger([PEER], IDENTIFIERS, NONCE, TIMEOUT_NS)
    ledger.send_failed(PEER, T0, "Operation not permitted")
    ledger.send_failed(PEER, T0 + 1, "Network is unreachable")
    result = ledger.results()[PEER]
    assert (result["sent"], result["received"], result["loss"]) == (2, 0, 1.0)
    assert result["error"] == "send failed: Operation not permitted"
    assert ledger.outstanding == 0


class RecordingSocket:
    """Stands in for the kernel's socket under a FamilySocket: keeps what was sent, refuses some addresses."""

    def __init__(self, refuse=()):
        self.sent = []
        self.refuse = set(refuse)

    def sendto(self, packet, destination):
        if destination[0] in self.refuse:
            raise PermissionError(1, "Operation not permitted")
        self.sent.append((packet, destination))
        return len(packet)


def test_a_round_sends_the_packet_to_every_address_and_enters_each_request_stamped_before_its_send(monkeypatch):
    ticks = iter(range(1, 100))
    monkeypatch.setattr(_probe_socket, "_monotonic_ns", lambda: next(ticks))
    monkeypatch.setattr(_probe_socket, "_time_ns", lambda: T0 + next(ticks))
    family_socket = object.__new__(_probe_socket.FamilySocket)
    kernel = RecordingSocket(refuse={OTHER})
    family_socket._sendto = kernel.sendto
    ledger = _probe_ledger.Ledger([PEER, OTHER], IDENTIFIERS, NONCE, TIMEOUT_NS)
    family_socket.send_round(b"packet", [PEER, OTHER], 7, ledger)
    assert kernel.sent == [(b"packet", (PEER, 0))]
    # the monotonic stamp is the RTT's start, the wall clock's the request's time stamp
    assert ledger._pending == {(PEER, 7): 1}
    assert ledger.outstanding == 1
    results = ledger.results()
    assert (results[PEER]["sent"], results[PEER]["error"]) == (1, None)
    assert results[PEER]["last_send_time"] == _probe_ledger.rfc3339(T0 + 2)
    assert (results[OTHER]["sent"], results[OTHER]["loss"]) == (1, 1.0)
    assert results[OTHER]["error"] == "send failed: Operation not permitted"


@pytest.mark.parametrize("text, expected", [
    ("198.18.0.1", (4, "198.18.0.1")),
    ("2001:DB8:0:0::1", (6, "2001:db8::1")),
    ("2001:db8:0:0:1:0:0:1", (6, "2001:db8::1:0:0:1")),
    ("::ffff:198.18.0.1", (6, "::ffff:198.18.0.1")),
])
def test_canonical_address_is_the_kernels_spelling(text, expected):
    assert _probe_targets.canonical_address(text) == expected
    assert _probe_targets.address_family(expected[1]) == expected[0]


@pytest.mark.parametrize("text, message", [
    ("node2", "'node2' is not an IPv4 or IPv6 address"),
    ("198.18.0.256", "is not an IPv4 or IPv6 address"),
    ("198.18.0", "is not an IPv4 or IPv6 address"),
    ("", "is not an IPv4 or IPv6 address"),
    ("fe80::1%eth0", "zone index in 'fe80::1%eth0' is not supported"),
])
def test_canonical_address_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        _probe_targets.canonical_address(text)


def test_parse_targets_shapes():
    assert _probe_targets.parse_targets([
        "198.18.0.12",
        {"name": "n3", "address": "198.18.0.13"},
        {"name": "n4", "address": ["198.19.4.1", "2001:db8:1:4::1"]},
        {"address": ["198.19.5.1"]},
    ]) == [
        ("198.18.0.12", ["198.18.0.12"]),
        ("n3", ["198.18.0.13"]),
        ("n4", ["198.19.4.1", "2001:db8:1:4::1"]),
        ("198.19.5.1", ["198.19.5.1"]),
    ]


@pytest.mark.parametrize("targets, message", [
    ([5], r"targets\[0\] must be an address or a dict"),
    (["198.18.0.1", {"name": "n2"}], r"targets\[1\] must be an address or a dict"),
    ([{"name": "n2", "address": []}], r"targets\[0\].address is empty"),
    ([{"name": "n2", "address": [1]}], r"targets\[0\].address must be an address or a list"),
])
def test_parse_targets_rejects_bad_shapes(targets, message):
    with pytest.raises(NlmError, match=message):
        _probe_targets.parse_targets(targets)


class EchoingSocket:
    """Stands in for FamilySocket: answers every request after rtt_ns, except those to the silent addresses.

    A socketpair makes the descriptor readable, so that the real poll loop runs.
    """

    def __init__(self, family, identifier, rtt_ns=80_000, silent=(), refuse=()):
        self.family = family
        self.identifier = identifier
        self.privileged = True
        self.rtt_ns = rtt_ns
        self.silent = set(silent)
        self.refuse = set(refuse)
        self.sent = []
        self._queue = []
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)

    def fileno(self):
        return self._reader.fileno()

    def set_payload_size(self, payload_size):
        self.payload_size = payload_size

    def send_round(self, packet, addresses, sequence, ledger):
        for address in addresses:
            send_ns = T0 + len(self.sent) * 1000
            self.sent.append((packet, address))
            if address in self.refuse:
                ledger.send_failed(address, send_ns, "Operation not permitted")
                continue
            if address not in self.silent:
                self._queue.append((address, packet, send_ns + self.rtt_ns))
                self._writer.send(b"!")
            ledger.sent(address, sequence, send_ns, send_ns)

    def drain(self, ledger):
        try:
            self._reader.recv(4096)
        except BlockingIOError:
            return
        queue, self._queue = self._queue, []
        for address, packet, recv_ns in queue:
            echoed = bytes([0 if self.family == 4 else 129]) + packet[1:]
            ledger.reply(self.family, address, parse_message(self.family, echoed, False), recv_ns)

    def close(self):
        self._reader.close()
        self._writer.close()


def test_every_round_reaches_every_target_over_one_socket_per_family():
    v4 = EchoingSocket(4, 0x1111)
    v6 = EchoingSocket(6, 0x2222)
    addresses = ["198.18.0.%d" % host for host in range(1, 51)] + ["2001:db8::%x" % host for host in range(1, 51)]
    try:
        prober = _probe.Prober(addresses, 3, 0.001, 1.0, 56, {4: v4, 6: v6})
        results = prober.run()
    finally:
        v4.close()
        v6.close()
    assert [address for _packet, address in v4.sent] == addresses[:50] * 3
    assert [address for _packet, address in v6.sent] == addresses[50:] * 3
    # One packet per round and family, the same for every target; the sequence is the round.
    for family_socket in (v4, v6):
        packets = [packet for packet, _address in family_socket.sent]
        assert [struct.unpack("!H", packet[6:8])[0] for packet in packets[::50]] == [0, 1, 2]
        assert all(packets[round_start] == packets[round_start + 49] for round_start in (0, 50, 100))
        assert len(packets[0]) == 8 + 56
        assert family_socket.payload_size == 56
    assert all(result["received"] == 3 and result["loss"] == 0.0 for result in results.values())
    assert results["198.18.0.1"]["rtts_ms"] == [0.08, 0.08, 0.08]
    assert prober.ledger.outstanding == 0


def test_silent_and_refused_targets_are_lost_others_measured():
    v4 = EchoingSocket(4, 0x1111, silent={"198.18.0.2"}, refuse={"198.18.0.3"})
    try:
        results = _probe.Prober(["198.18.0.1", "198.18.0.2", "198.18.0.3"], 2, 0.001, 0.05, 16, {4: v4}).run()
    finally:
        v4.close()
    assert (results["198.18.0.1"]["received"], results["198.18.0.1"]["error"]) == (2, None)
    assert (results["198.18.0.2"]["sent"], results["198.18.0.2"]["loss"], results["198.18.0.2"]["error"]) == (2, 1.0, None)
    assert (results["198.18.0.3"]["sent"], results["198.18.0.3"]["loss"]) == (2, 1.0)
    assert results["198.18.0.3"]["error"] == "send failed: Operation not permitted"


def test_measure_reports_bad_addresses_per_target_and_probes_the_rest(monkeypatch):
    opened = {}

    def open_sockets(families, privileged, sources, interface, unavailable):
        opened.update(families=families, privileged=privileged, sources=sources, interface=interface)
        return {4: EchoingSocket(4, 0x1111)}

    monkeypatch.setattr(_probe, "open_sockets", open_sockets)
    latency = _probe.measure("n1", [{"name": "n2", "address": ["198.18.0.12", "not-an-address"]}, "198.18.0.12"],
                             count=2, interval=0.001, timeout=0.5, payload_size=56, privileged="auto",
                             interface="eth0", sources=["198.18.0.11"])
    assert opened == {"families": {4}, "privileged": "auto", "sources": ["198.18.0.11"], "interface": "eth0"}
    assert latency["source"] == "n1"
    assert latency["settings"] == {"count": 2, "interval": 0.001, "timeout": 0.5, "payload_size": 56,
                                   "privileged": True, "interface": "eth0", "source": ["198.18.0.11"]}
    assert [peer["name"] for peer in latency["peers"]] == ["n2", "198.18.0.12"]
    good, bad = latency["peers"][0]["targets"]
    assert (good["address"], good["family"], good["received"], good["loss"]) == ("198.18.0.12", "ipv4", 2, 0.0)
    assert bad["family"] is None
    assert bad["error"].startswith("bad address: ")
    assert (bad["sent"], bad["received"], bad["loss"], bad["rtts_ms"]) == (0, 0, 1.0, [])
    # The same address for two peers is probed once and reported for both.
    assert latency["peers"][1]["targets"][0]["rtts_ms"] == good["rtts_ms"]


def test_measure_without_targets_opens_no_socket(monkeypatch):
    monkeypatch.setattr(_probe, "open_sockets", lambda *args: pytest.fail("no socket is needed"))
    monkeypatch.setattr(_probe, "Prober", lambda *args: pytest.fail("nothing to probe"))
    latency = _probe.measure("n1", [], 3, 0.2, 1.0, 56)
    assert latency["peers"] == []
    assert latency["settings"]["privileged"] == "auto"
    latency = _probe.measure("n1", ["not-an-address"], 3, 0.2, 1.0, 56)
    assert latency["peers"][0]["targets"][0]["error"] == "bad address: 'not-an-address' is not an IPv4 or IPv6 address"


class RefusingSocket:
    def __init__(self, address=None, privileged=True):
        raise _probe_socket.SocketPermissionError(privileged)


@pytest.mark.parametrize("privileged, expected", [
    ("auto", r"cannot open an ICMP socket: raw ICMP sockets need CAP_NET_RAW .* net\.ipv4\.ping_group_range"),
    (True, r"cannot open a raw ICMP socket: raw ICMP sockets need CAP_NET_RAW .*; or set privileged to auto or false"),
    (False, r"cannot open an unprivileged ICMP socket: .*ping_group_range, which is '.*' here"),
])
def test_no_permission_says_which_capability_or_sysctl(monkeypatch, privileged, expected):
    monkeypatch.setattr(_probe_socket, "ICMPv4Socket", RefusingSocket)
    with pytest.raises(NlmError, match=expected):
        _probe_socket.open_sockets({4}, privileged)


def test_auto_falls_back_to_datagram_sockets(monkeypatch):
    tried = []

    class RawRefused(RefusingSocket):
        def __init__(self, address=None, privileged=True):
            tried.append(privileged)
            if privileged:
                super().__init__(address, privileged)
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

        def close(self):
            self.sock.close()

    monkeypatch.setattr(_probe_socket, "ICMPv4Socket", RawRefused)
    monkeypatch.setattr(_probe_socket.FamilySocket, "_configure", lambda self, source, interface: self.sock.bind(("127.0.0.1", 0)))
    sockets = _probe_socket.open_sockets({4}, "auto")
    try:
        assert tried == [True, False]
        assert sockets[4].privileged is False
        assert sockets[4].identifier == sockets[4].sock.getsockname()[1]
    finally:
        sockets[4].close()


def test_two_sources_of_one_family_are_refused():
    with pytest.raises(NlmError, match="more than one source address for IPv4"):
        _probe_socket.open_sockets({4}, "auto", ["198.18.0.11", "198.18.0.12"])


def test_source_that_is_not_an_address_is_refused():
    with pytest.raises(NlmError, match="source must be an IP address of this host: 'n1' is not an IPv4 or IPv6 address"):
        _probe_socket.open_sockets({4}, "auto", ["n1"])


def extended_error(origin, icmp_type, icmp_code, offender=b"", error_number=113):
    return struct.pack("@IBBBBII", error_number, origin, icmp_type, icmp_code, 0, 0, 0) + offender


OFFENDER_V4 = struct.pack("@HH4s8x", socket.AF_INET, 0, socket.inet_aton("198.19.2.1"))
OFFENDER_V6 = struct.pack("@HHI16sI", socket.AF_INET6, 0, 0, socket.inet_pton(socket.AF_INET6, "2001:db8:1:2::1"), 0)


@pytest.mark.parametrize("family, ancillary, expected", [
    (4, [(socket.IPPROTO_IP, _probe_socket.IP_RECVERR, extended_error(2, 3, 10, OFFENDER_V4))],
     "destination unreachable (host administratively prohibited) from 198.19.2.1"),
    (6, [(socket.IPPROTO_IPV6, _probe_socket.IPV6_RECVERR, extended_error(3, 1, 1, OFFENDER_V6))],
     "destination unreachable (communication administratively prohibited) from 2001:db8:1:2::1"),
    (4, [(socket.IPPROTO_IP, _probe_socket.IP_RECVERR, extended_error(1, 0, 0, error_number=90))], "Message too long"),
    (4, [(socket.IPPROTO_IP, _probe_socket.IP_RECVERR, extended_error(2, 11, 0))], "time exceeded (code 0)"),
    (4, [(socket.SOL_SOCKET, _probe_socket.SO_TIMESTAMPNS, b"\x00" * 16)], None),
    (4, [(socket.IPPROTO_IP, _probe_socket.IP_RECVERR, b"\x00" * 4)], None),
])
def test_error_queue_messages_name_the_error_and_its_sender(family, ancillary, expected):
    assert _probe_socket._describe_extended_error(family, ancillary) == expected


def test_kernel_receive_time_from_the_timestamp_message():
    stamp = struct.pack("@ll", 1_764_111_600, 123_456_789)
    assert _probe_socket._kernel_time_ns([(socket.SOL_SOCKET, _probe_socket.SO_TIMESTAMPNS, stamp)]) == 1_764_111_600_123_456_789


STATISTICS_KEYS = {
    "sent", "received", "loss", "duplicates", "late", "error", "min_rtt_ms", "avg_rtt_ms", "max_rtt_ms",
    "median_rtt_ms", "stddev_rtt_ms", "jitter_ms", "p50_rtt_ms", "p95_rtt_ms", "p99_rtt_ms", "last_rtt_ms",
}
PER_REQUEST_KEYS = {"rtts_ms", "last_send_time", "last_recv_time"}
ALWAYS_KEYS = {"address", "family", "sent", "received", "loss"}


def carries_nothing(full, key):
    """Whether the compact result may leave ``key`` of the full one out: it holds nothing,
    or it is the median and equal to the p50."""
    if key in ("duplicates", "late"):
        return full[key] == 0
    if key == "median_rtt_ms" and full[key] == full["p50_rtt_ms"]:
        return True
    return full[key] is None


def test_compact_results_keep_the_statistics_and_the_last_rtt_without_rtts_and_times(ledger):
    # answered out of order: the last RTT is the highest sequence's, as rtts_ms[-1] is
    assert ledger.reply(4, PEER, reply(sequence=1), T0 + 200_000_000 + 75_000) == "matched"
    assert ledger.reply(4, PEER, reply(sequence=0), T0 + 200_000_000 + 90_000) == "matched"
    full, compact = ledger.results()[PEER], ledger.results(keep_rtts=False)[PEER]
    assert set(full) == STATISTICS_KEYS | PER_REQUEST_KEYS | {"address", "family"}
    # two replies: no percentile above the p50, and a median that is not the p50
    assert set(compact) == ALWAYS_KEYS | {"min_rtt_ms", "avg_rtt_ms", "max_rtt_ms", "median_rtt_ms", "stddev_rtt_ms",
                                          "jitter_ms", "p50_rtt_ms", "last_rtt_ms"}
    assert (full["address"], full["family"]) == (compact["address"], compact["family"]) == (PEER, "ipv4")
    assert full["rtts_ms"] == [200.09, 0.075]
    assert full["last_rtt_ms"] == compact["last_rtt_ms"] == 0.075
    assert dict((key, full[key]) for key in compact) == compact
    assert all(carries_nothing(full, key) for key in set(full) - set(compact) - PER_REQUEST_KEYS)
    silent_full, silent = ledger.results()[OTHER], ledger.results(keep_rtts=False)[OTHER]
    assert silent == {"address": OTHER, "family": "ipv4", "sent": 2, "received": 0, "loss": 1.0}
    assert all(carries_nothing(silent_full, key) for key in set(silent_full) - set(silent) - PER_REQUEST_KEYS)


def test_a_compact_result_reads_back_as_the_full_one_in_every_report(ledger):
    """What the compact result leaves out, the reports put back: a count of 0, the
    median from the p50 (three replies: both the middle one), null for the rest."""
    from ansible_collections.nodelatency.monitor.plugins.plugin_utils import _report, _report_stats
    for sequence, rtt_ns in ((0, 90_000), (1, 75_000)):
        assert ledger.reply(4, PEER, reply(sequence=sequence), T0 + 200_000_000 * sequence + rtt_ns) == "matched"
    ledger.sent(PEER, 2, T0 + 400_000_000)
    assert ledger.reply(4, PEER, reply(sequence=2), T0 + 400_000_000 + 80_000) == "matched"
    full, compact = ledger.results()[PEER], ledger.results(keep_rtts=False)[PEER]
    assert full["median_rtt_ms"] == full["p50_rtt_ms"] == 0.08 and "median_rtt_ms" not in compact
    assert {"duplicates", "late", "error", "p95_rtt_ms", "p99_rtt_ms"}.isdisjoint(compact)

    def fact(target):
        return {"source": "n1", "started": "2026-11-25T22:50:00.000000Z", "duration_seconds": 1.0,
                "settings": {"count": 3}, "peers": [{"name": "n2", "targets": [target]}]}
    read_full, read_compact = (_report._pair("n1", "n2", target, "test") for target in (full, compact))
    assert dict(read_compact, rtts_ms=None, last_send_time=None, last_recv_time=None) == dict(
        read_full, rtts_ms=None, last_send_time=None, last_recv_time=None)
    documents = [_report_stats.node_latency_document(fact(target))["peerNodeLatencyStats"][0]["targetIPLatencyStats"][0]
                 for target in (full, compact)]
    ignored = {"lastSendTime": None, "lastRecvTime": None, "rttsNanoseconds": None}
    assert dict(documents[1], **ignored) == dict(documents[0], **ignored)
    assert documents[1]["medianRTTNanoseconds"] == 80000 and documents[1]["duplicates"] == 0


def test_peers_sharing_an_address_each_get_their_own_target(monkeypatch):
    monkeypatch.setattr(_probe, "open_sockets", lambda families, privileged, sources, interface, unavailable:
                        {4: EchoingSocket(4, 0x1111)})
    latency = _probe.measure("n1", [{"name": "n2", "address": ["198.18.0.12"]}, {"name": "n3", "address": ["198.18.0.12"]}],
                             count=2, interval=0.001, timeout=0.5, payload_size=56)
    (first,), (second,) = [peer["targets"] for peer in latency["peers"]]
    assert first == second and first is not second
    assert list(first)[:4] == ["address", "family", "sent", "received"]
    assert (first["address"], first["family"], first["received"]) == ("198.18.0.12", "ipv4", 2)


def test_measure_without_keep_rtts_is_compact_for_every_kind_of_target(monkeypatch):
    def open_sockets(families, privileged, sources, interface, unavailable):
        unavailable[6] = "cannot open an IPv6 ICMP socket"
        return {4: EchoingSocket(4, 0x1111)}

    monkeypatch.setattr(_probe, "open_sockets", open_sockets)
    latency = _probe.measure("n1", [{"name": "n2", "address": ["198.18.0.12", "2001:db8::c", "not-an-address"]}],
                             count=2, interval=0.001, timeout=0.5, payload_size=56, keep_rtts=False)
    answered, unavailable, bad = latency["peers"][0]["targets"]
    assert ALWAYS_KEYS < set(answered) <= STATISTICS_KEYS | {"address", "family"}
    for target in (unavailable, bad):
        assert set(target) == ALWAYS_KEYS | {"error"}
    assert (answered["received"], answered["last_rtt_ms"]) == (2, 0.08)
    assert (unavailable["sent"], unavailable["error"]) == (0, "cannot open an IPv6 ICMP socket")
    assert bad["error"].startswith("bad address: ")
