"""Fixtures of the nlm_icmp_allow module tests."""

from __future__ import annotations

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils import _icmp_allow, _persist
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables import IptablesLegacyBackend


@pytest.fixture
def boot_files(tmp_path, monkeypatch):
    """Point the boot files nlm_icmp_allow looks for at tmp_path (none exists unless the
    test writes it), so that no test reads or writes the host's own; returns tmp_path."""
    monkeypatch.setattr(_icmp_allow, "IPTABLES_FILES", {
        "ipv4": (str(tmp_path / "rules.v4"), str(tmp_path / "sysconfig-iptables")),
        "ipv6": (str(tmp_path / "rules.v6"), str(tmp_path / "sysconfig-ip6tables"))})
    monkeypatch.setattr(_icmp_allow, "NFTABLES_FILES", (str(tmp_path / "nftables.conf"),))
    monkeypatch.setattr(_persist, "UFW_CONF", str(tmp_path / "ufw.conf"))
    return tmp_path


@pytest.fixture
def legacy_names(tmp_path, monkeypatch):
    """The kernel's lists of iptables-legacy tables, empty unless a test writes them."""
    files = {family: tmp_path / ("%s_tables_names" % prefix) for family, prefix in (("ipv4", "ip"), ("ipv6", "ip6"))}
    for path in files.values():
        path.write_text("")
    monkeypatch.setattr(IptablesLegacyBackend, "names_files", {family: str(path) for family, path in files.items()})
    return files


@pytest.fixture
def no_firewalld(monkeypatch):
    monkeypatch.setattr(_icmp_allow, "firewalld_running", lambda table_here=None: False)
