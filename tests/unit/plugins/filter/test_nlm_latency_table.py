# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.nodelatency.monitor.plugins.filter.nlm_latency_table import FilterModule, nlm_latency_table
from ansible_collections.nodelatency.monitor.tests.unit.fixtures.reports.synthetic import synthetic_facts


def widest(text):
    return max(len(line) for line in text.splitlines())


def test_filter_module_exports_the_filter():
    assert FilterModule().filters() == {"nlm_latency_table": nlm_latency_table}


def test_three_nodes_dual_stack_and_one_silent(dual_stack_facts, assert_golden):
    text = nlm_latency_table(dual_stack_facts, hosts=["n1", "n2", "n3", "n4"])
    assert_golden("table_dual_stack.txt", text)
    assert widest(text) <= 80


def test_ten_nodes_with_long_names_fit_80_columns(assert_golden):
    names = ["worker-node-%02d" % number for number in range(1, 11)]
    text = nlm_latency_table(synthetic_facts(names))
    assert_golden("table_10_long_names.txt", text)
    matrix_lines = text.split("Average RTT in ms, ipv4")[1].split("\n\n")[0].splitlines()[1:]
    # One block: a header and ten rows, all within 80 columns.
    assert len(matrix_lines) == 11
    assert max(len(line) for line in matrix_lines) <= 80


def test_fourteen_nodes_split_into_column_blocks(assert_golden):
    text = nlm_latency_table(synthetic_facts(["n%d" % number for number in range(1, 15)]))
    assert_golden("table_14_blocks.txt", text)
    assert widest(text) <= 80


def test_a_narrow_terminal_gets_narrower_blocks():
    text = nlm_latency_table(synthetic_facts(["n1", "n2", "n3", "n4"]), width=20, top=0)
    matrix = text.split("(row: from, column: to)\n")[1].split("\n\n*")[0]
    assert [block.splitlines()[0] for block in matrix.split("\n\n")] == ["from    n1     n2", "from    n3     n4"]
    assert "Worst" not in text


def test_beyond_matrix_max_nodes_summary_and_worst_pairs_remain(assert_golden):
    names = ["n%d" % number for number in range(1, 31)]
    text = nlm_latency_table(synthetic_facts(names, silent=("n30",)), top=3)
    assert_golden("table_30_no_matrix.txt", text)
    assert "Average RTT in ms" not in text
    assert "Matrix left out: 30 nodes is more than 20; the HTML report shows all of it." in text


def test_problems_from_the_probe_are_listed(real_fact):
    text = nlm_latency_table(real_fact, top=2)
    assert text.endswith(
        "Worst 2 pairs (verdict, loss, then average RTT):\n"
        "  n1 -> bogus  not-an-ip  unreachable  replies 0/0\n"
        "      bad address: 'not-an-ip' does not appear to be an IPv4 or IPv6 address\n"
        "  n1 -> n3  198.18.0.3  unreachable  replies 0/3\n"
        "      destination unreachable (host unreachable) from 198.18.0.1\n")


def test_no_facts_no_matrix():
    assert nlm_latency_table([]) == "Node latency: 0 nodes, 0 probed\n\nNODE NAME  ENTRIES  AVG LATENCY  MAX LATENCY  LOSS  NOTES\n"


@pytest.mark.parametrize(("options", "message"), [
    ({"width": 10}, "nlm_latency_table: width must be a whole number of at least 20, got 10"),
    ({"top": -1}, "nlm_latency_table: top must be a whole number of at least 0, got -1"),
    ({"matrix_max_nodes": "5"}, "nlm_latency_table: matrix_max_nodes must be a whole number of at least 0, got '5'"),
    ({"top": True}, "nlm_latency_table: top must be a whole number of at least 0, got True"),
])
def test_bad_options_are_named(dual_stack_facts, options, message):
    with pytest.raises(AnsibleFilterError) as error:
        nlm_latency_table(dual_stack_facts, **options)
    assert error.value.message == message
