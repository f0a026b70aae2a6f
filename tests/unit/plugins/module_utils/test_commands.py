"""The firewall commands of one run: reads kept until a change, checks and failures."""

from __future__ import annotations

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils._commands import Commands
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError

SAVE4 = ["/usr/sbin/iptables-nft-save", "-t", "filter"]
SAVE6 = ["/usr/sbin/ip6tables-nft-save", "-t", "filter"]
RESTORE4 = ["/usr/sbin/iptables-nft-restore", "--noflush", "--wait=30"]


class FakeModule:
    """run_command answering every command with a new output, so a kept one shows."""

    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail or {}

    def run_command(self, argv, data=None, binary_data=False):
        assert isinstance(argv, list) and binary_data
        self.calls.append((argv, data))
        if argv[0] in self.fail:
            return self.fail[argv[0]]
        return 0, "output %d of %s" % (len(self.calls), argv[0]), ""


def test_a_read_runs_once_until_a_change():
    module = FakeModule()
    commands = Commands(module)
    assert commands.read(SAVE4) == commands.read(list(SAVE4)) == "output 1 of %s" % SAVE4[0]
    assert commands.read(SAVE6) == "output 2 of %s" % SAVE6[0]
    assert len(module.calls) == 2


def test_a_change_forgets_every_read_but_the_unaffected():
    module = FakeModule()
    commands = Commands(module)
    first4, first6 = commands.read(SAVE4), commands.read(SAVE6)
    commands.change(RESTORE4, "*filter\nCOMMIT\n", unaffected=[SAVE6])
    assert commands.read(SAVE6) == first6
    assert commands.read(SAVE4) != first4
    commands.change(RESTORE4, "*filter\nCOMMIT\n")
    assert commands.read(SAVE6) != first6
    assert [argv[0] for argv, _data in module.calls] == [SAVE4[0], SAVE6[0], RESTORE4[0], SAVE4[0],
                                                         RESTORE4[0], SAVE6[0]]


def test_a_check_passes_its_input_and_keeps_the_reads():
    module = FakeModule()
    commands = Commands(module)
    commands.read(SAVE4)
    commands.check(["/usr/sbin/iptables-nft-restore", "--test"], "*filter\nCOMMIT\n")
    commands.read(SAVE4)
    assert module.calls[1] == (["/usr/sbin/iptables-nft-restore", "--test"], "*filter\nCOMMIT\n")
    assert len(module.calls) == 2


def test_a_failed_command_raises_and_is_not_kept():
    module = FakeModule(fail={SAVE4[0]: (4, "", "iptables-save: Permission denied (you must be root)")})
    commands = Commands(module)
    for _attempt in range(2):
        with pytest.raises(NlmError) as raised:
            commands.read(SAVE4)
        assert raised.value.message == "iptables-nft-save failed (rc=4): run the task as root (become: true)"
        assert raised.value.rc == 4
    assert len(module.calls) == 2


def test_reads_side_by_side_run_once_each_and_are_kept():
    module = FakeModule()
    commands = Commands(module)
    commands.read(SAVE4)
    commands.read_all([SAVE4, SAVE6, list(SAVE6), ["/usr/sbin/nft", "-j", "list", "chains"]])
    assert sorted(argv[0] for argv, _data in module.calls) == [
        SAVE6[0], SAVE4[0], "/usr/sbin/nft"]
    assert commands.read(SAVE6).endswith(SAVE6[0])
    assert len(module.calls) == 3


def test_reads_side_by_side_report_the_first_failure_in_their_order():
    module = FakeModule(fail={SAVE4[0]: (1, "", "iptables-save: table filter missing"),
                              SAVE6[0]: (4, "", "ip6tables-save: Permission denied")})
    commands = Commands(module)
    with pytest.raises(NlmError) as raised:
        commands.read_all([SAVE6, SAVE4])
    assert raised.value.message == "ip6tables-nft-save failed (rc=4): run the task as root (become: true)"
    assert len(module.calls) == 2
