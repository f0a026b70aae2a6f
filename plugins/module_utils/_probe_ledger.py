# -*- coding: utf-8 -*-
# Copyright: contributors to nodelatency.monitor
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every echo request of one probe run and what became of it: which replies count
(identifier, sequence, source and the run's whole payload nonce all match a request of
this run, within its timeout), duplicates, late replies, errors, and each target's
result. No sockets: unit tests drive it with crafted packets."""

from __future__ import annotations

import time

from ansible_collections.nodelatency.monitor.plugins.module_utils._probe_stats import (
    last_rtt_ms,
    loss_ratio,
    rfc3339,
    rtt_figures,
    rtts_ms,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._probe_targets import address_family


NONCE_LENGTH = 8
MAX_SEQUENCE = 0xFFFF
FAMILY_NAMES = {4: "ipv4", 6: "ipv6"}


class Ledger:
    """Every echo request of one run and what became of it. No sockets: unit tests drive it with crafted packets."""

    def __init__(self, addresses, identifiers, nonce, timeout_ns, clock=time.monotonic_ns):
        """addresses: canonical target addresses; identifiers: {family: echo identifier the socket uses};
        clock: the monotonic clock that send and receive times are given on, when they are."""
        self._clock = clock
        self._identifiers = identifiers
        self._nonce = nonce
        self._timeout_ns = timeout_ns
        self._targets = {address: new_record() for address in addresses}
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
        # one look-up for "ours?" and the send time, _settle in place: this runs for every echo
        sent_ns = self._pending.get(key)
        if sent_ns is None or identifier != self._identifiers.get(family) or nonce != self._nonce:
            return "foreign"
        target = self._targets[source]
        answered = self._answered
        if key in answered:
            target["duplicates"] += 1
            return "duplicate"
        answered.add(key)
        self.outstanding -= 1
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
        if rtt_ns < 0:
            rtt_ns = 0
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

    def results(self, keep_rtts=True):
        """{address: result}, each a target of the nlm_latency fact (address and family
        included); without keep_rtts the compact one (see summarize)."""
        return dict((address, summarize(record, keep_rtts, address, FAMILY_NAMES[address_family(address)]))
                    for address, record in self._targets.items())


def new_record(error=None):
    return {"sent": 0, "rtts": {}, "duplicates": 0, "late": 0,
            "last_send_ns": None, "last_recv_ns": None, "error": error}


def summarize(record, keep_rtts=True, address=None, family=None):
    """A target's result, as the nlm_latency fact holds it: its address and family (ipv4,
    ipv6, or None for what is not an address) first. With keep_rtts every RTT and the
    last send and receive times as well; without, only figures whose number does not grow
    with the count, so that an inventory-wide result stays small."""
    by_sequence = record["rtts"]
    rtts = [by_sequence[sequence] for sequence in sorted(by_sequence)]
    sent = record["sent"]
    # one dict, the summary's figures written in place: this runs for every target every cycle
    minimum, average, maximum, median, stddev, jitter, p50, p95, p99 = rtt_figures(rtts)
    summary = {
        "address": address,
        "family": family,
        "sent": sent,
        "received": len(rtts),
        "loss": loss_ratio(sent, len(rtts)),
        "duplicates": record["duplicates"],
        "late": record["late"],
        "error": record["error"],
        "min_rtt_ms": minimum,
        "avg_rtt_ms": average,
        "max_rtt_ms": maximum,
        "median_rtt_ms": median,
        "stddev_rtt_ms": stddev,
        "jitter_ms": jitter,
        "p50_rtt_ms": p50,
        "p95_rtt_ms": p95,
        "p99_rtt_ms": p99,
        # Antrea's lastMeasuredRTT: the answered request with the highest sequence
        # number, as the reports read it from rtts_ms when there is none
        "last_rtt_ms": last_rtt_ms(rtts),
    }
    if keep_rtts:
        summary["rtts_ms"] = rtts_ms(rtts)
        summary["last_send_time"] = rfc3339(record["last_send_ns"])
        summary["last_recv_time"] = rfc3339(record["last_recv_ns"])
        return summary
    return compact(summary)


# what a compact target leaves out when it holds nothing: Ansible's controller handles
# every key and value of every host's result, and on N nodes a host returns 2(N - 1) targets
_LEFT_OUT_WHEN_ZERO = ("duplicates", "late")
_LEFT_OUT_WHEN_NONE = ("error", "min_rtt_ms", "avg_rtt_ms", "max_rtt_ms", "median_rtt_ms", "stddev_rtt_ms",
                       "jitter_ms", "p50_rtt_ms", "p95_rtt_ms", "p99_rtt_ms", "last_rtt_ms")


def compact(summary):
    """``summary`` without what carries nothing, in place: no error, no duplicates or late
    replies, the figures a sample does not give (the percentiles below 20 and 100
    replies, every RTT figure without a reply), and the median where it is the p50 (an
    odd number of replies: both are the middle one). Readers take a missing count as 0,
    a missing median as the p50 and any other missing key as null."""
    for key in _LEFT_OUT_WHEN_ZERO:
        if not summary[key]:
            del summary[key]
    for key in _LEFT_OUT_WHEN_NONE:
        if summary[key] is None:
            del summary[key]
    if "median_rtt_ms" in summary and summary["median_rtt_ms"] == summary.get("p50_rtt_ms"):
        del summary["median_rtt_ms"]
    return summary
