# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nlm agent's watch over the owned rules: each cycle it reads the ruleset with the
logic of nlm_icmp_allow_info, and with repair on it puts a missing rule back with the
logic of nlm_icmp_allow (live only: the boot files are the role's to write).

The rules modules' logic asks a few things of AnsibleModule (its parameters, check mode,
run_command, get_bin_path, warn); ``StandaloneModule`` answers them for a process that
runs without Ansible.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError

# The tools live in sbin, which a service user's PATH may lack.
_TOOL_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")


class StandaloneModule(object):
    """The part of AnsibleModule the rules modules' logic uses."""

    def __init__(self, spec, params, check_mode=False):
        self.params = dict((name, option.get("default")) for name, option in spec.items())
        self.params.update(params)
        self.check_mode = check_mode
        self._diff = False
        self.warnings = []

    @staticmethod
    def run_command(argv, data=None, binary_data=False):
        # this is run_command, for the agent, which runs outside Ansible: there is no
        # AnsibleModule to call it on
        result = subprocess.run(argv, input=data, capture_output=True, text=True, check=False,  # pylint: disable=ansible-bad-function
                                env=dict(os.environ, LANG="C", LC_ALL="C"))
        return result.returncode, result.stdout, result.stderr

    @staticmethod
    def get_bin_path(name, required=False, opt_dirs=None):
        search = os.pathsep.join([os.environ.get("PATH", "")] + list(opt_dirs or ()) + list(_TOOL_DIRS))
        return shutil.which(name, path=search)

    def warn(self, message):
        self.warnings.append(message)


class RuleWatch(object):
    """Presence of the owned rules ``settings`` describes (the peers file's ``rules``:
    interfaces, roles, ip_versions, backend, comment, repair), keyed by the labels
    (interface, family, direction, message)."""

    def __init__(self, settings, module_class=StandaloneModule):
        self.settings = settings
        self.module_class = module_class

    def _params(self):
        return dict((key, self.settings[key]) for key in ("interfaces", "roles", "ip_versions", "backend", "comment")
                    if key in self.settings)

    def presence(self):
        """{(interface, family, direction, message): present} as nlm_icmp_allow_info sees it:
        a rule counts as present where a filter needs it and holds it, and where none needs it."""
        from ansible_collections.nodelatency.monitor.plugins.module_utils import _icmp_allow
        module = self.module_class(_icmp_allow.COMMON_ARGUMENT_SPEC, self._params())
        report = _icmp_allow.IcmpAllowInfo(module).run()["icmp_allow"]
        found = {}
        for family in _icmp_allow.FAMILIES:
            for entry in report.get(family, {}).get("rules", []):
                found[(entry["interface"], family, entry["direction"], entry["message"])] = bool(entry["present"])
        return found

    def repair(self):
        """Put the missing owned rules back, live; the module's warnings."""
        from ansible_collections.nodelatency.monitor.plugins.module_utils import _icmp_allow
        params = dict(self._params(), state="present", persist=False, wait=5)
        if "chain_mode" in self.settings:
            params["chain_mode"] = self.settings["chain_mode"]
        module = self.module_class(_icmp_allow.ALLOW_ARGUMENT_SPEC, params)
        _icmp_allow.IcmpAllow(module).run()
        return module.warnings

    def check(self):
        """(presence after any repair, the labels repaired)."""
        found = self.presence()
        if not self.settings.get("repair") or all(found.values()):
            return found, []
        self.repair()
        after = self.presence()
        repaired = [labels for labels, present in after.items() if present and not found.get(labels, True)]
        return after, repaired


def rules_settings(data, path):
    """The ``rules`` part of the peers file, checked for shape; None when absent. The
    values themselves (interface names, the comment) are checked by the rules logic."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise NlmError("%s: rules must be an object" % path)
    settings = {}
    for key in ("interfaces", "roles", "ip_versions"):
        if key in data:
            value = data[key]
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise NlmError("%s: rules.%s must be a list of names" % (path, key))
            settings[key] = list(value)
    if not settings.get("interfaces"):
        raise NlmError("%s: rules.interfaces must name at least one interface" % path)
    for key in ("backend", "comment", "chain_mode"):
        if key in data:
            if not isinstance(data[key], str):
                raise NlmError("%s: rules.%s must be a string" % (path, key))
            settings[key] = data[key]
    repair = data.get("repair", False)
    if not isinstance(repair, bool):
        raise NlmError("%s: rules.repair must be true or false" % path)
    settings["repair"] = repair
    return settings
