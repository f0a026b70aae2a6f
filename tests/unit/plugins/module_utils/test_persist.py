"""The owned rules merged into boot files: iptables-restore files and the nftables configuration.

The iptables inputs are the real iptables-save fixtures (tests/unit/fixtures/iptables),
which already hold owned rules; the nftables input is the lab's /etc/nftables.conf.
"""

from __future__ import annotations

import os
import re

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables import filter_table, owned_lines
from ansible_collections.nodelatency.monitor.plugins.module_utils._persist import (
    existing,
    merge_iptables,
    merge_nftables,
    write,
)

TAG = "nodelatency.monitor"
NFTABLES_CONF = """#!/usr/sbin/nft -f

flush ruleset

table inet filter {
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tiifname "lo" accept
\t}
}
"""
COMMANDS = ['insert rule inet filter input iifname "antrea-gw0" icmp type echo-reply accept comment "%s"' % TAG,
            'insert rule inet filter input iifname "antrea-gw0" icmp type echo-request accept comment "%s"' % TAG]


def is_owned_text(line):
    return TAG in line or "NLM-" in line


def without_counters_on_owned_lines(text):
    return "".join(re.sub(r"^\[\d+:\d+\] ", "", line) if is_owned_text(line) else line
                   for line in text.splitlines(True))


@pytest.mark.parametrize("fixture", ["nft-ipv4-counters", "legacy-ipv6-counters"])
def test_owned_lines_go_where_iptables_save_puts_them_and_foreign_lines_stay(fixture_text, fixture):
    """The fixtures hold owned rules where the module puts them live (declarations after the
    other chains, jumps and direct rules on top of INPUT/OUTPUT, the owned chains last): taken
    out and put back, the file is the same but for the owned lines' counters."""
    text = fixture_text("iptables/%s.save" % fixture)
    owned = owned_lines(filter_table(text), TAG)
    assert len(owned) == 2 + 2 + 1 + 5
    foreign_only = merge_iptables(text, [], TAG, "rules")
    assert foreign_only == "".join(line for line in text.splitlines(True) if not is_owned_text(line))
    assert merge_iptables(foreign_only, owned, TAG, "rules") == without_counters_on_owned_lines(text)
    assert merge_iptables(text, owned, TAG, "rules") == without_counters_on_owned_lines(text)


def test_no_owned_rules_leave_exactly_the_foreign_lines(fixture_text):
    text = fixture_text("iptables/legacy-ipv6.save")
    merged = merge_iptables(text, [], TAG, "rules.v6")
    assert merged == "".join(line for line in text.splitlines(True) if not is_owned_text(line))
    assert merge_iptables(merged, [], TAG, "rules.v6") == merged


def test_a_file_without_a_filter_table_is_refused_only_when_rules_must_go_in():
    text = "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n"
    assert merge_iptables(text, [], TAG, "/etc/sysconfig/iptables") == text
    with pytest.raises(NlmError, match=r"/etc/sysconfig/iptables has no \*filter table"):
        merge_iptables(text, ["-A INPUT -j ACCEPT"], TAG, "/etc/sysconfig/iptables")


def test_nftables_block_goes_to_the_end_and_comes_out_again():
    merged = merge_nftables(NFTABLES_CONF, COMMANDS, TAG)
    assert merged.startswith(NFTABLES_CONF)
    assert merged[len(NFTABLES_CONF):].splitlines() == [
        "# BEGIN nodelatency.monitor nlm_icmp_allow rules tagged %s (this block is rewritten by the module)" % TAG,
        *COMMANDS,
        "# END nodelatency.monitor nlm_icmp_allow rules tagged %s" % TAG]
    assert merge_nftables(merged, COMMANDS, TAG) == merged
    assert merge_nftables(merged, [], TAG) == NFTABLES_CONF
    # another tag's block is someone else's
    assert merge_nftables(merged, [], "other") == merged


def test_nftables_block_without_its_end_is_refused():
    broken = merge_nftables(NFTABLES_CONF, COMMANDS, TAG).rsplit("# END", 1)[0]
    with pytest.raises(NlmError, match="has no end line"):
        merge_nftables(broken, COMMANDS, TAG)


def test_a_mechanism_is_in_use_by_its_file_not_its_directory(tmp_path):
    (tmp_path / "sysconfig").mkdir()
    (tmp_path / "rules.v4").write_text("*filter\nCOMMIT\n")
    assert existing([str(tmp_path / "sysconfig"), str(tmp_path / "sysconfig" / "iptables"),
                     str(tmp_path / "rules.v4")]) == [str(tmp_path / "rules.v4")]


def test_write_replaces_the_content_and_keeps_the_mode(tmp_path):
    path = tmp_path / "rules.v4"
    path.write_text("old\n")
    os.chmod(path, 0o600)
    write(str(path), "new\n")
    assert path.read_text() == "new\n"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["rules.v4"]
