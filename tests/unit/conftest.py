"""Generic fixtures for unit tests of the collection's modules.

``run_module`` runs a module's ``main()`` with the given arguments, commands
answered by a fake ``run_command`` and binaries found by a fake ``get_bin_path``;
it returns the module result and the commands the module ran.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.nodelatency.monitor.plugins.module_utils._module import CommandModule

FIXTURES = Path(__file__).parent / "fixtures"


class _ModuleExit(Exception):
    def __init__(self, result):
        super().__init__(result)
        self.result = result


class ModuleRun:
    """What a module run did: its result, and every command with its stdin."""

    def __init__(self, result, commands):
        self.result = result
        self.commands = commands

    @property
    def argvs(self):
        return [argv for argv, _data in self.commands]

    @property
    def failed(self):
        return bool(self.result.get("failed"))


@pytest.fixture(autouse=True)
def no_system_bus(monkeypatch):
    """firewalld answers the unit tests through busctl's mocked run_command, never a real
    system bus that dbus-python, where installed, would reach: it cannot be imported."""
    monkeypatch.setitem(sys.modules, "dbus", None)


@pytest.fixture
def fixture_text():
    """Read a file from tests/unit/fixtures by its relative path."""
    def read(relative_path):
        return (FIXTURES / relative_path).read_text()
    return read


@pytest.fixture
def run_module(monkeypatch):
    """run_module(main, args, respond=None, binaries=None, check_mode=False, diff=False) -> ModuleRun.

    The result carries the module's warnings under ``warnings``.

    ``respond(argv, data)`` returns ``(rc, stdout, stderr)`` for each command (default: rc 0,
    no output); ``binaries`` maps a command name to its path, None meaning not installed
    (default: /usr/sbin/<name>)."""
    def run(main, args, respond=None, binaries=None, check_mode=False, diff=False):
        commands = []
        warnings = []
        binaries = binaries or {}

        def fake_run_command(self, args, data=None, **_kwargs):
            commands.append((list(args), data))
            return respond(list(args), data) if respond else (0, "", "")

        def fake_get_bin_path(self, name, required=False, opt_dirs=None):
            return binaries.get(name, "/usr/sbin/" + name)

        def fake_warn(self, warning):
            warnings.append(warning)

        def fake_exit_json(self, **result):
            raise _ModuleExit(dict(result, warnings=warnings))

        def fake_fail_json(self, msg, **result):
            raise _ModuleExit(dict(result, failed=True, msg=msg))

        monkeypatch.setattr(basic.AnsibleModule, "run_command", fake_run_command)
        monkeypatch.setattr(CommandModule, "run_command", fake_run_command)
        monkeypatch.setattr(basic.AnsibleModule, "warn", fake_warn)
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", fake_get_bin_path)
        monkeypatch.setattr(basic.AnsibleModule, "exit_json", fake_exit_json)
        monkeypatch.setattr(basic.AnsibleModule, "fail_json", fake_fail_json)
        module_args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        with patch_module_args(module_args):
            with pytest.raises(_ModuleExit) as outcome:
                main()
        return ModuleRun(outcome.value.result, commands)
    return run
