# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The agent's metrics, kept with the official Prometheus Python client.

Every metric is named ``nlm_*`` with its unit as a suffix, as Prometheus' naming
conventions ask. Latency series are labelled ``source`` (the probing node), ``peer``
(the probed node) and ``family`` (ipv4, ipv6); a peer that leaves the peers file loses
its series at the next cycle, so that dashboards do not keep a stale line.

The latency families (the RTT histogram, the sent, received and error counters, the
last RTT) come from a custom collector, the client's pattern for exporters: a cycle
adds its echoes to plain per-series counts, and a scrape turns the counts into metric
families. Observing every echo through the client's Histogram and Counter children
cost a lock and a bucket walk per echo, most of what the metrics cost a cycle; the
exposition, cumulative buckets and counters across cycles and ``_created`` samples
included, is the same.
"""

from __future__ import annotations

import bisect
import os
import threading
import time

try:
    from prometheus_client import CollectorRegistry, Gauge, Counter, generate_latest
    from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
    from prometheus_client.samples import Sample
    from prometheus_client.utils import floatToGoString
    HAS_PROMETHEUS_CLIENT = True
except ImportError:
    HAS_PROMETHEUS_CLIENT = False

from ansible_collections.nodelatency.monitor.plugins.module_utils._agent import RTT_BUCKETS
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError

LATENCY_LABELS = ("source", "peer", "family")
RULE_LABELS = ("interface", "family", "direction", "message")
RTT_HELP = "Round-trip time of ICMP echo replies from a peer."
SENT_HELP = "ICMP echo requests sent to a peer."
RECEIVED_HELP = "ICMP echo replies received in time from a peer."
ERRORS_HELP = ("Cycles in which probing a peer's address failed with an error (an ICMP error or a send the kernel "
               "refused).")
LAST_RTT_HELP = "Round-trip time of the last reply from a peer in the last cycle that got one."
# An echo lands in the first bucket whose upper bound is at least its RTT, as the
# client's Histogram.observe puts it; the last bucket is +Inf.
_BOUNDS = tuple(RTT_BUCKETS) + (float("inf"),)


def _created_series_wanted():
    # prometheus_client's own switch for its _created samples, read as the client reads it
    return os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() not in ("true", "1", "t")


class _Series:
    """What a scrape shows of one (source, peer, family): per-bucket (not yet cumulative)
    echo counts, their sum, the counters, the last RTT and when the series was made."""

    __slots__ = ("labels", "buckets", "total", "sent", "received", "errors", "last_rtt", "created")

    def __init__(self, labels, created):
        self.labels = labels
        self.buckets = [0] * len(_BOUNDS)
        self.total = 0.0
        self.sent = 0.0
        self.received = 0.0
        self.errors = 0.0
        self.last_rtt = None
        self.created = created


class _LatencyCollector:
    """The latency families, made at scrape time from the series the cycles keep."""

    def __init__(self, clock=time.time):
        self._lock = threading.Lock()
        self._series = {}
        self._clock = clock
        self._created = _created_series_wanted()
        self._le = [floatToGoString(bound) for bound in _BOUNDS]

    def apply(self, latency):
        """Add one cycle's nlm_latency fact: every RTT to its series' histogram, sent,
        received and errors to its counters; forget the series the cycle no longer has."""
        source = latency["source"]
        bounds = _BOUNDS
        where = bisect.bisect_left
        with self._lock:
            series = self._series
            seen = set()
            for peer in latency["peers"]:
                name = peer["name"]
                for target in peer["targets"]:
                    labels = (source, name, target.get("family") or "unknown")
                    one = series.get(labels)
                    if one is None:
                        one = series[labels] = _Series(labels, self._clock())
                    seen.add(labels)
                    one.sent += target.get("sent", 0)
                    one.received += target.get("received", 0)
                    if target.get("error"):
                        one.errors += 1
                    rtts = target.get("rtts_ms")
                    if rtts:
                        buckets = one.buckets
                        total = one.total
                        for rtt in rtts:
                            seconds = rtt / 1000.0
                            buckets[where(bounds, seconds)] += 1
                            total += seconds
                        one.total = total
                        one.last_rtt = seconds
            if len(seen) != len(series):
                for labels in set(series) - seen:
                    del series[labels]

    def _families(self):
        return (HistogramMetricFamily("nlm_rtt_seconds", RTT_HELP, labels=LATENCY_LABELS),
                CounterMetricFamily("nlm_probes_sent", SENT_HELP, labels=LATENCY_LABELS),
                CounterMetricFamily("nlm_probes_received", RECEIVED_HELP, labels=LATENCY_LABELS),
                CounterMetricFamily("nlm_probe_errors", ERRORS_HELP, labels=LATENCY_LABELS),
                GaugeMetricFamily("nlm_last_rtt_seconds", LAST_RTT_HELP, labels=LATENCY_LABELS))

    def describe(self):
        return self._families()

    def collect(self):
        with self._lock:
            snapshot = [(one.labels, list(one.buckets), one.total, one.sent, one.received, one.errors, one.last_rtt,
                         one.created) for one in self._series.values()]
        rtt, sent, received, errors, last_rtt = self._families()
        with_created = self._created
        le = self._le
        for labels, buckets, total, sent_count, received_count, error_count, last, created in snapshot:
            cumulative = 0.0
            rows = []
            for index, count in enumerate(buckets):
                cumulative += count
                rows.append((le[index], cumulative))
            rtt.add_metric(labels, rows, total)
            if with_created:
                # the client's Histogram children show when they were made; the family has no argument for it
                rtt.samples.append(Sample("nlm_rtt_seconds_created", dict(zip(LATENCY_LABELS, labels)), created))
            sent.add_metric(labels, sent_count, created if with_created else None)
            received.add_metric(labels, received_count, created if with_created else None)
            errors.add_metric(labels, error_count, created if with_created else None)
            if last is not None:
                last_rtt.add_metric(labels, last)
        return [rtt, sent, received, errors, last_rtt]


class Metrics:
    """The registry of one agent and how a cycle's samples change it."""

    def __init__(self, clock=time.time):
        if not HAS_PROMETHEUS_CLIENT:
            raise NlmError("the nlm agent needs the prometheus_client library in its Python; the nlm role installs "
                           "it into its venv with nlm_monitor: true")
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = _LatencyCollector(clock)
        self.registry.register(self.latency)
        self.rule_present = Gauge("nlm_rule_present", "1 when an owned ICMP echo allow rule was in the ruleset "
                                  "where a filter needs it at the last cycle, else 0.", RULE_LABELS, registry=self.registry)
        self.rules_repaired = Counter("nlm_rules_repaired_total", "Owned rules the agent put back.", RULE_LABELS,
                                      registry=self.registry)
        self.last_cycle = Gauge("nlm_last_cycle_timestamp_seconds", "When the last complete probing cycle ended, "
                                "in seconds since the epoch.", registry=self.registry)
        self.cycle_duration = Gauge("nlm_last_cycle_duration_seconds", "How long the last probing cycle took.",
                                    registry=self.registry)
        self._rule_labels = set()

    def apply(self, latency, ended, duration):
        """Add one cycle's nlm_latency fact (what _probe.measure returns) and forget the
        peers it no longer has."""
        self.latency.apply(latency)
        self.last_cycle.set(ended)
        self.cycle_duration.set(duration)

    def set_rules(self, presence, repaired=()):
        """presence: {(interface, family, direction, message): bool} for every rule the agent
        watches; repaired: the labels of the rules it put back in this cycle."""
        for labels, present in presence.items():
            self.rule_present.labels(*labels).set(1 if present else 0)
        for labels in repaired:
            self.rules_repaired.labels(*labels).inc()
        for labels in self._rule_labels - set(presence):
            for metric in (self.rule_present, self.rules_repaired):
                try:
                    metric.remove(*labels)
                except KeyError:
                    pass
        self._rule_labels = set(presence)

    def text(self):
        """The exposition text, for the textfile collector or an HTTP scrape."""
        return generate_latest(self.registry).decode("utf-8")
