"""Fixtures of the nlm_icmp_allow module tests."""

from __future__ import annotations

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils import _icmp_allow


@pytest.fixture
def boot_files(tmp_path, monkeypatch):
    """Point the boot files nlm_icmp_allow looks for at tmp_path (none exists unless the
    test writes it), so that no test reads or writes the host's own; returns tmp_path."""
    monkeypatch.setattr(_icmp_allow, "IPTABLES_FILES", {
        "ipv4": (str(tmp_path / "rules.v4"), str(tmp_path / "sysconfig-iptables")),
        "ipv6": (str(tmp_path / "rules.v6"), str(tmp_path / "sysconfig-ip6tables"))})
    monkeypatch.setattr(_icmp_allow, "NFTABLES_FILES", (str(tmp_path / "nftables.conf"),))
    return tmp_path
