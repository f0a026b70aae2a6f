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


SUMMARY_KEYS = ("min_rtt_ms", "avg_rtt_ms", "max_rtt_ms", "median_rtt_ms", "stddev_rtt_ms", "jitter_ms") + tuple(
    "p%d_rtt_ms" % percentile for percentile, _fewest in PERCENTILES)


def rtt_summary(rtts_ns):
    """min, avg, max, median, stddev, jitter and the percentiles of RTTs (integer
    nanoseconds, as the clocks give them, in sequence order), in milliseconds.

    stddev is the population standard deviation (ping's mdev); jitter is the
    mean absolute difference between consecutive RTTs; p50, p95 and p99 are
    nearest-rank percentiles, each given only where the sample allows (PERCENTILES).
    Every figure is None without samples; jitter needs two.
    """
    return dict(zip(SUMMARY_KEYS, rtt_figures(rtts_ns)))


def _ms(nanoseconds):
    """round(nanoseconds / 10**6, 6) of a float number of nanoseconds.

    round() to 6 decimals goes through a decimal string, some 0.4 us, and the agent takes
    four such figures of every target every cycle. The figure is the nearest float to a
    whole number of nanoseconds over 10**6: the nearest whole number to nanoseconds
    unless those lie within the division's rounding error (10**-15 of their size) of a
    half, where only round() itself tells which way the decimal rounding goes."""
    whole = round(nanoseconds)
    if 0.5 - abs(nanoseconds - whole) > nanoseconds * 1e-15:
        return whole / _NS_PER_MS
    return round(nanoseconds / _NS_PER_MS, _MS_DIGITS)


def rtt_figures(rtts_ns):
    """rtt_summary's figures, in the order of SUMMARY_KEYS, as a list."""
    # Plain loops in place of generators and helpers, and rounding only where a figure
    # is not a whole number of nanoseconds: an integer divided by 10**6 is already the
    # float nearest to its 6 decimals (see rtts_ms). The agent summarises every target
    # every cycle; the figures are the same to the bit.
    count = len(rtts_ns)
    if not count:
        return [None] * len(SUMMARY_KEYS)
    mean = sum(rtts_ns) / count
    squares = 0
    for rtt in rtts_ns:
        squares += (rtt - mean) ** 2
    ordered = sorted(rtts_ns)
    middle = count // 2
    jitter = None
    if count > 1:
        steps = 0
        earlier = rtts_ns[0]
        for later in rtts_ns[1:]:
            steps += abs(later - earlier)
            earlier = later
        jitter = _ms(steps / (count - 1))
    figures = [
        ordered[0] / _NS_PER_MS,
        _ms(mean),
        ordered[-1] / _NS_PER_MS,
        ordered[middle] / _NS_PER_MS if count % 2 else _ms((ordered[middle - 1] + ordered[middle]) / 2),
        _ms(math.sqrt(squares / count)),
        jitter,
    ]
    for percentile, fewest in PERCENTILES:
        figures.append(ordered[(percentile * count + 99) // 100 - 1] / _NS_PER_MS if count >= fewest else None)
    return figures


def rtts_ms(rtts_ns):
    """RTTs (integer nanoseconds) in milliseconds. An integer divided by 10**6 is the
    float nearest to its value in milliseconds, which has at most 6 decimals: rounding
    to them would change nothing."""
    return [rtt / _NS_PER_MS for rtt in rtts_ns]


def last_rtt_ms(rtts_ns):
    """The last of RTTs (integer nanoseconds, in sequence order) in milliseconds; None without any."""
    return rtts_ns[-1] / _NS_PER_MS if rtts_ns else None


def loss_ratio(sent, received):
    """Share of echo requests without a reply in time, 0.0 to 1.0; 1.0 when nothing could be sent."""
    if sent == 0 or received == 0:
        return 1.0
    if received == sent:
        # what the rounding below gives, without it: the common case
        return 0.0
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
