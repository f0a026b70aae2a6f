"""The backend-neutral rule model: which rules each role needs, and the tag."""

from __future__ import annotations

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_rules import (
    AllowRule,
    comment_problem,
    expected_rules,
)


def test_both_roles_give_antreas_four_rules_per_interface_in_its_order():
    assert expected_rules("ipv4", ["gw0", "eth0"], ["responder", "prober"]) == [
        AllowRule("ipv4", "in", "gw0", "echo-request"),
        AllowRule("ipv4", "in", "gw0", "echo-reply"),
        AllowRule("ipv4", "out", "gw0", "echo-request"),
        AllowRule("ipv4", "out", "gw0", "echo-reply"),
        AllowRule("ipv4", "in", "eth0", "echo-request"),
        AllowRule("ipv4", "in", "eth0", "echo-reply"),
        AllowRule("ipv4", "out", "eth0", "echo-request"),
        AllowRule("ipv4", "out", "eth0", "echo-reply"),
    ]


def test_an_interface_named_twice_gets_its_rules_once():
    assert expected_rules("ipv4", ["gw0", "eth0", "gw0"], ["responder"]) == \
        expected_rules("ipv4", ["gw0", "eth0"], ["responder"])


@pytest.mark.parametrize("roles,expected", [
    (["responder"], [("in", "echo-request"), ("out", "echo-reply")]),
    (["prober"], [("in", "echo-reply"), ("out", "echo-request")]),
])
def test_each_role_is_one_direction_pair(roles, expected):
    rules = expected_rules("ipv6", ["gw0"], roles)
    assert [(rule.direction, rule.message) for rule in rules] == expected
    assert {rule.role for rule in rules} == set(roles)


def test_icmp_type_numbers():
    assert [rule.icmp_type for rule in expected_rules("ipv4", ["gw0"], ["responder", "prober"])] == [8, 0, 8, 0]
    assert [rule.icmp_type for rule in expected_rules("ipv6", ["gw0"], ["responder", "prober"])] == [128, 129, 128, 129]


@pytest.mark.parametrize("comment", ["nodelatency.monitor", "team-a: icmp allow", "x" * 128])
def test_usable_tags(comment):
    assert comment_problem(comment) is None


@pytest.mark.parametrize("comment", ["", "x" * 129, 'say "hi"', "back\\slash", " leading space", "new\nline"])
def test_unusable_tags(comment):
    assert comment_problem(comment)
