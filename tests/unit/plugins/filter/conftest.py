# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import json
import os
import pathlib

import pytest

from ansible_collections.nodelatency.monitor.tests.unit.fixtures.reports.synthetic import synthetic_facts

FIXTURES = pathlib.Path(__file__).parents[3] / "unit" / "fixtures" / "reports"


@pytest.fixture
def dual_stack_facts():
    """n1..n3 measured over IPv4 and IPv6; n4 is a play host that never reported."""
    return synthetic_facts(["n1", "n2", "n3", "n4"], families=("ipv4", "ipv6"), silent=("n4",))


@pytest.fixture
def real_fact():
    """One fact as nlm_probe returned it, with a bad address and an unreachable peer."""
    return json.loads((FIXTURES / "probe_real.json").read_text())


@pytest.fixture
def assert_golden():
    """assert_golden(name, text): text equals the golden file; NLM_UPDATE_GOLDEN=1 rewrites it (review the diff)."""

    def compare(name, text):
        path = FIXTURES / name
        if os.environ.get("NLM_UPDATE_GOLDEN") == "1":
            path.write_text(text)
        assert text == path.read_text()

    return compare
