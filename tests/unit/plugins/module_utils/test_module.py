"""CommandModule.run_command: real commands, read to their end even when the module
misses the moment they exit."""

from __future__ import annotations

import selectors
import sys
import time

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.nodelatency.monitor.plugins.module_utils._module import CommandModule

# Writes its output only after AnsibleModule's one-second wait has seen nothing, and exits.
LATE_WRITER = [sys.executable, "-c", "import sys, time; time.sleep(1.2); sys.stdout.write('*filter\\nCOMMIT\\n'); "
               "sys.stderr.write('warning\\n')"]


class SleepAfterSelect(selectors.PollSelector):
    """A selector whose caller is kept off the CPU right after each wait, as under load."""

    def select(self, timeout=None):
        events = super().select(timeout)
        if not events:
            time.sleep(1.5)
        return events


@pytest.fixture
def module():
    with patch_module_args({}):
        yield CommandModule(argument_spec={})


@pytest.fixture
def scheduler_gap(monkeypatch):
    monkeypatch.setattr(basic.selectors, "PollSelector", SleepAfterSelect)


def test_ansible_module_run_command_loses_output_written_while_it_was_not_running(scheduler_gap):
    """The gap this module closes, shown on AnsibleModule itself: if this ever passes with
    output, ansible-core fixed ansible/ansible#51393 and CommandModule can go."""
    with patch_module_args({}):
        plain = basic.AnsibleModule(argument_spec={})
    assert plain.run_command(LATE_WRITER) == (0, "", "")


def test_run_command_reads_output_written_while_it_was_not_running(module, scheduler_gap):
    assert module.run_command(LATE_WRITER) == (0, "*filter\nCOMMIT\n", "warning\n")


def test_run_command_passes_stdin_and_the_locale(module):
    module.run_command_environ_update = {"LC_ALL": "C"}
    argv = [sys.executable, "-c", "import os, sys; print(repr(sys.stdin.read()), os.environ['LC_ALL'])"]
    assert module.run_command(argv, data="rules", binary_data=True) == (0, "'rules' C\n", "")
    # as AnsibleModule's: text input gets a final newline
    assert module.run_command(argv, data="rules") == (0, "'rules\\n' C\n", "")


def test_run_command_returns_a_failing_command_as_it_is(module):
    argv = [sys.executable, "-c", "import sys; sys.stderr.write('no such table'); sys.exit(3)"]
    assert module.run_command(argv) == (3, "", "no such table")


def test_a_command_that_cannot_start_fails_the_module_naming_it(module, monkeypatch):
    failures = []

    def fail_json(**result):
        failures.append(result)
        raise SystemExit(1)

    monkeypatch.setattr(module, "fail_json", fail_json)
    with pytest.raises(SystemExit):
        module.run_command(["/nonexistent/nft", "-j", "list", "chains"])
    assert failures[0]["cmd"] == "/nonexistent/nft -j list chains"
    assert "No such file or directory" in failures[0]["msg"]


def test_what_these_modules_never_ask_for_stays_with_ansible_module(module):
    assert module.run_command("echo shell words", use_unsafe_shell=True) == (0, "shell words\n", "")
