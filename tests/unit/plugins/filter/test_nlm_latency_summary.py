# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.nodelatency.monitor.plugins.filter.nlm_latency_summary import FilterModule, nlm_latency_summary


def test_filter_module_exports_the_filter():
    assert FilterModule().filters() == {"nlm_latency_summary": nlm_latency_summary}


def test_one_row_per_node_with_antrea_columns_and_ours(dual_stack_facts):
    rows = {row["node"]: row for row in nlm_latency_summary(dual_stack_facts, hosts=["n1", "n2", "n3", "n4"])}

    assert list(rows) == ["n1", "n2", "n3", "n4"]
    n1 = rows["n1"]
    # Peers n2, n3, n4; two addresses each; n1 -> n3 lost two of five per family.
    assert (n1["probed"], n1["entries"], n1["targets"]) == (True, 3, 6)
    assert (n1["sent"], n1["received"], n1["lossy"], n1["down"], n1["errors"]) == (30, 26, 2, 0, 0)
    assert n1["loss"] == pytest.approx(4 / 30)
    assert n1["notes"] == "2 lossy"
    # Mean of the six per-target averages; the slowest reply overall.
    assert n1["avg_rtt_ms"] == pytest.approx((20.258 + 0.424 + 0.198) * 2 / 6)
    assert n1["max_rtt_ms"] == 20.266
    assert rows["n2"]["notes"] == "1 failed"
    assert rows["n3"]["notes"] == "2 no reply"
    assert rows["n4"] == {"node": "n4", "probed": False, "entries": 0, "targets": 0, "avg_rtt_ms": None,
                          "max_rtt_ms": None, "sent": 0, "received": 0, "loss": None, "lossy": 0, "down": 0,
                          "errors": 0, "notes": "no data"}


def test_targets_without_reply_stay_out_of_the_averages(real_fact):
    (row,) = [row for row in nlm_latency_summary(real_fact) if row["node"] == "n1"]
    assert row["avg_rtt_ms"] == pytest.approx((0.045181 + 0.068239) / 2)
    assert row["max_rtt_ms"] == 0.156633
    assert (row["entries"], row["errors"], row["notes"]) == (3, 2, "2 failed")
