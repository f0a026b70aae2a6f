# -*- coding: utf-8 -*-
# Copyright: contributors to nodelatency.monitor
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Statistics and time stamps of nlm_probe results. Pure functions."""

from __future__ import annotations

import datetime
import functools
import math

_NS_PER_MS = 1_000_000
_NS_PER_S = 1_000_000_000
# Nanoseconds are the resolution of the clocks the RTTs come from.
_MS_DIGITS = 6
# (percentile, the fewest RTTs that give it): a p-th percentile says something only when
# at least one RTT lies above it, which takes 100 / (100 - p) of them.
PERCENTILES = ((50, 2), (95, 20), (99, 100))


def _ms(nanoseconds):
    return round(nanoseconds / _NS_PER_MS, _MS_DIGITS)


def rtt_summary(rtts_ns):
    """min, avg, max, median, stddev, jitter and the percentiles of RTTs (nanoseconds, in
    sequence order), in milliseconds.

    stddev is the population standard deviation (ping's mdev); jitter is the
    mean absolute difference between consecutive RTTs; p50, p95 and p99 are
    nearest-rank percentiles, each given only where the sample allows (PERCENTILES).
    Every figure is None without samples; jitter needs two.
    """
    if not rtts_ns:
        return dict.fromkeys(
            ("min_rtt_ms", "avg_rtt_ms", "max_rtt_ms", "median_rtt_ms", "stddev_rtt_ms", "jitter_ms")
            + tuple("p%d_rtt_ms" % percentile for percentile, _fewest in PERCENTILES))
    count = len(rtts_ns)
    mean = sum(rtts_ns) / count
    variance = sum((rtt - mean) ** 2 for rtt in rtts_ns) / count
    ordered = sorted(rtts_ns)
    middle = count // 2
    median = ordered[middle] if count % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    jitter = None
    if count > 1:
        jitter = _ms(sum(abs(later - earlier) for earlier, later in zip(rtts_ns, rtts_ns[1:])) / (count - 1))
    summary = {
        "min_rtt_ms": _ms(ordered[0]),
        "avg_rtt_ms": _ms(mean),
        "max_rtt_ms": _ms(ordered[-1]),
        "median_rtt_ms": _ms(median),
        "stddev_rtt_ms": _ms(math.sqrt(variance)),
        "jitter_ms": jitter,
    }
    for percentile, fewest in PERCENTILES:
        summary["p%d_rtt_ms" % percentile] = (
            _ms(ordered[(percentile * count + 99) // 100 - 1]) if count >= fewest else None)
    return summary


def rtts_ms(rtts_ns):
    """RTTs in milliseconds."""
    return [_ms(rtt) for rtt in rtts_ns]


def loss_ratio(sent, received):
    """Share of echo requests without a reply in time, 0.0 to 1.0; 1.0 when nothing could be sent."""
    if sent == 0:
        return 1.0
    return round(1.0 - received / sent, 6)


@functools.lru_cache(maxsize=64)
def _utc_second(seconds):
    # A run's time stamps fall into a few seconds; thousands of targets share them.
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def rfc3339(realtime_ns):
    """RFC 3339 UTC time stamp with microseconds of a CLOCK_REALTIME value in nanoseconds; None stays None."""
    if realtime_ns is None:
        return None
    seconds, remainder = divmod(realtime_ns, _NS_PER_S)
    return "%s.%06dZ" % (_utc_second(seconds), remainder // 1000)
