"""Statistics and time stamps of probe results."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils import _probe_stats as stats

MS = 1_000_000


def test_summary_without_samples_is_all_null():
    assert stats.rtt_summary([]) == {
        "min_rtt_ms": None, "avg_rtt_ms": None, "max_rtt_ms": None,
        "median_rtt_ms": None, "stddev_rtt_ms": None, "jitter_ms": None,
        "p50_rtt_ms": None, "p95_rtt_ms": None, "p99_rtt_ms": None,
    }


def test_summary_of_one_sample_has_no_jitter():
    assert stats.rtt_summary([250_000]) == {
        "min_rtt_ms": 0.25, "avg_rtt_ms": 0.25, "max_rtt_ms": 0.25,
        "median_rtt_ms": 0.25, "stddev_rtt_ms": 0.0, "jitter_ms": None,
        # no RTT above a percentile of one
        "p50_rtt_ms": None, "p95_rtt_ms": None, "p99_rtt_ms": None,
    }


def test_summary_in_milliseconds():
    # 1, 3, 2, 6 ms: mean 3; deviations -2, 0, -1, 3 -> variance 14/4; jitter (2 + 1 + 4) / 3.
    summary = stats.rtt_summary([1 * MS, 3 * MS, 2 * MS, 6 * MS])
    assert summary["min_rtt_ms"] == 1.0
    assert summary["max_rtt_ms"] == 6.0
    assert summary["avg_rtt_ms"] == 3.0
    assert summary["median_rtt_ms"] == 2.5
    assert summary["stddev_rtt_ms"] == pytest.approx((14 / 4) ** 0.5, abs=1e-6)
    assert summary["jitter_ms"] == pytest.approx(7 / 3, abs=1e-6)


@pytest.mark.parametrize("count, p50, p95, p99", [
    (2, 1.0, None, None),
    (3, 2.0, None, None),
    (19, 10.0, None, None),
    # nearest rank: the smallest RTT with at least p % of them at or below it
    (20, 10.0, 19.0, None),
    (99, 50.0, 95.0, None),
    (100, 50.0, 95.0, 99.0),
    (1000, 500.0, 950.0, 990.0),
])
def test_percentiles_where_the_sample_allows(count, p50, p95, p99):
    # 1 .. count ms, in a shuffled order: percentiles do not depend on it
    rtts = [((index * 7919) % count + 1) * MS for index in range(count)]
    assert sorted(rtts) == [(index + 1) * MS for index in range(count)]
    summary = stats.rtt_summary(rtts)
    assert (summary["p50_rtt_ms"], summary["p95_rtt_ms"], summary["p99_rtt_ms"]) == (p50, p95, p99)


def test_median_of_odd_count():
    assert stats.rtt_summary([5 * MS, 1 * MS, 9 * MS])["median_rtt_ms"] == 5.0


def test_nanoseconds_survive_in_milliseconds():
    assert stats.rtts_ms([1, 48_123, 50_000_001]) == [0.000001, 0.048123, 50.000001]


@pytest.mark.parametrize("nanoseconds", [
    0.0, 0.4, 0.5, 1.5, 2.5, 48_123.0, 48_123.333333333336, 48_123.5, 48_124.5, 48_123.499999999, 48_123.500000001,
    123_456_789.25, 123_456_789.5, 2.0 ** 52 + 1, 1e17 + 0.5])
def test_milliseconds_to_the_nanosecond_are_what_round_gives(nanoseconds):
    # on a half the decimal rounding of the float in milliseconds decides, and only round() knows it
    assert repr(stats._ms(nanoseconds)) == repr(round(nanoseconds / MS, 6))


def test_milliseconds_to_the_nanosecond_are_what_round_gives_for_any_sample():
    import random
    chosen = random.Random(16)
    for _sample in range(20_000):
        rtts = [chosen.randint(0, chosen.choice([10, 10 ** 5, 10 ** 9])) for _rtt in range(chosen.choice([2, 3, 4, 5]))]
        mean = sum(rtts) / len(rtts)
        for figure in (mean, (rtts[0] + rtts[1]) / 2, abs(rtts[1] - rtts[0]) / 3):
            assert repr(stats._ms(figure)) == repr(round(figure / MS, 6)), figure


@pytest.mark.parametrize("sent, received, loss", [(3, 3, 0.0), (3, 0, 1.0), (3, 2, 0.333333), (0, 0, 1.0)])
def test_loss_ratio(sent, received, loss):
    assert stats.loss_ratio(sent, received) == loss


def test_rfc3339_is_utc_with_microseconds():
    stamp = stats.rfc3339(1_764_111_600_123_456_789)
    assert stamp == "2025-11-25T23:00:00.123456Z"
    parsed = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert parsed.timestamp() == pytest.approx(1_764_111_600.123456, abs=1e-6)


def test_rfc3339_keeps_none():
    assert stats.rfc3339(None) is None
