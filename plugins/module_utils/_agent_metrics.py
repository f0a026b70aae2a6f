# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The agent's metrics, kept with the official Prometheus Python client.

Every metric is named ``nlm_*`` with its unit as a suffix, as Prometheus' naming
conventions ask. Latency series are labelled ``source`` (the probing node), ``peer``
(the probed node) and ``family`` (ipv4, ipv6); a peer that leaves the peers file loses
its series at the next cycle, so that dashboards do not keep a stale line.
"""

from __future__ import annotations

try:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
    HAS_PROMETHEUS_CLIENT = True
except ImportError:
    HAS_PROMETHEUS_CLIENT = False

from ansible_collections.nodelatency.monitor.plugins.module_utils._agent import RTT_BUCKETS
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError

LATENCY_LABELS = ("source", "peer", "family")
RULE_LABELS = ("interface", "family", "direction", "message")


class _LastRtt:
    """The last-RTT gauge of one series, made when its first RTT is set."""

    def __init__(self, gauge, labels):
        self._gauge = gauge
        self._labels = labels
        self._child = None

    def set(self, seconds):
        if self._child is None:
            self._child = self._gauge.labels(*self._labels)
        self._child.set(seconds)


class Metrics:
    """The registry of one agent and how a cycle's samples change it."""

    def __init__(self):
        if not HAS_PROMETHEUS_CLIENT:
            raise NlmError("the nlm agent needs the prometheus_client library in its Python; the nlm role installs "
                           "it into its venv with nlm_monitor: true")
        self.registry = CollectorRegistry(auto_describe=True)
        self.rtt = Histogram("nlm_rtt_seconds", "Round-trip time of ICMP echo replies from a peer.",
                             LATENCY_LABELS, buckets=RTT_BUCKETS, registry=self.registry)
        self.sent = Counter("nlm_probes_sent_total", "ICMP echo requests sent to a peer.", LATENCY_LABELS,
                            registry=self.registry)
        self.received = Counter("nlm_probes_received_total", "ICMP echo replies received in time from a peer.",
                                LATENCY_LABELS, registry=self.registry)
        self.errors = Counter("nlm_probe_errors_total",
                              "Cycles in which probing a peer's address failed with an error (an ICMP error "
                              "or a send the kernel refused).", LATENCY_LABELS, registry=self.registry)
        self.last_rtt = Gauge("nlm_last_rtt_seconds", "Round-trip time of the last reply from a peer in the last "
                              "cycle that got one.", LATENCY_LABELS, registry=self.registry)
        self.rule_present = Gauge("nlm_rule_present", "1 when an owned ICMP echo allow rule was in the ruleset "
                                  "where a filter needs it at the last cycle, else 0.", RULE_LABELS, registry=self.registry)
        self.rules_repaired = Counter("nlm_rules_repaired_total", "Owned rules the agent put back.", RULE_LABELS,
                                      registry=self.registry)
        self.last_cycle = Gauge("nlm_last_cycle_timestamp_seconds", "When the last complete probing cycle ended, "
                                "in seconds since the epoch.", registry=self.registry)
        self.cycle_duration = Gauge("nlm_last_cycle_duration_seconds", "How long the last probing cycle took.",
                                    registry=self.registry)
        self._children = {}
        self._rule_labels = set()

    def apply(self, series, ended, duration):
        """Add one cycle's samples (an _agent.Series) and forget the peers it no longer has."""
        # each series' children are looked up once while its peer stays, not every cycle:
        # at hundreds of peers the lookups were most of what the metrics cost a cycle
        children = self._children
        for labels, seconds in series.observations:
            child = children.get(labels) or self._children_of(labels)
            child[0].observe(seconds)
        for labels, (sent, received, errors) in series.counts.items():
            child = children.get(labels) or self._children_of(labels)
            child[1].inc(sent)
            child[2].inc(received)
            child[3].inc(errors)
        for labels, seconds in series.last_rtt.items():
            (children.get(labels) or self._children_of(labels))[4].set(seconds)
        current = series.label_sets()
        for labels in set(children) - current:
            del children[labels]
            for metric in (self.rtt, self.sent, self.received, self.errors, self.last_rtt):
                try:
                    metric.remove(*labels)
                except KeyError:
                    pass
        self.last_cycle.set(ended)
        self.cycle_duration.set(duration)

    def _children_of(self, labels):
        """The rtt, sent, received, errors and last-RTT children of one series. The last RTT
        is made on first use only: a peer that never answered has none."""
        child = self._children[labels] = (self.rtt.labels(*labels), self.sent.labels(*labels),
                                          self.received.labels(*labels), self.errors.labels(*labels),
                                          _LastRtt(self.last_rtt, labels))
        return child

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
