"""Interface names are validated as the kernel's dev_valid_name does."""

from __future__ import annotations

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils._ifname import (
    interface_name_problem,
    invalid_interface_names,
)


@pytest.mark.parametrize("name", ["antrea-gw0", "eth0", "a", "x" * 15, "eth0.100", "eth+", "veth_1@"])
def test_valid_names(name):
    assert interface_name_problem(name) is None


@pytest.mark.parametrize("name,reason", [
    ("", "non-empty"),
    ("x" * 16, "16 characters long; the kernel allows 1 to 15"),
    (".", "reserved"),
    ("..", "reserved"),
    ("eth/0", "'/'"),
    ("eth0:1", "':'"),
    ("eth 0", "' '"),
    ("eth\t0", "'\\t'"),
    ("eth0\n", "'\\n'"),
    ('eth"0', "quotes"),
    ("eth\\0", "backslashes"),
    (None, "non-empty string"),
])
def test_invalid_names_say_why(name, reason):
    assert reason in interface_name_problem(name)


def test_every_invalid_name_is_reported():
    assert len(invalid_interface_names(["eth0", "a/b", "", "gw0"])) == 2
