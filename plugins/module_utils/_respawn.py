# -*- coding: utf-8 -*-
# Copyright: contributors to nodelatency.monitor
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module again with the Python the nlm role installed its libraries into.

The role puts pyroute2 and icmplib into a virtual environment of its own when the node's
Python lacks them, and runs this collection's modules with it. An ad-hoc run
(``ansible all -m nodelatency.monitor.nlm_probe``) uses the node's own Python, so a module
that cannot import its library there looks for that environment itself.
"""

from __future__ import annotations

from ansible.module_utils.common.respawn import has_respawned, probe_interpreters_for_module, respawn_module

# nlm_python_venv's default: a role run with another venv tells its modules so itself
ROLE_PYTHON = "/opt/nodelatency-monitor/venv/bin/python"


def respawn_with_library(library, interpreters=(ROLE_PYTHON,)):
    """Run this module again with the first of ``interpreters`` that imports ``library``; returns
    only when there is none (or this run is already the second), for the module to fail with
    missing_required_lib."""
    if has_respawned():
        return
    interpreter = probe_interpreters_for_module(list(interpreters), library)
    if interpreter:
        respawn_module(interpreter)
