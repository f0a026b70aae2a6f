# -*- coding: utf-8 -*-
# Copyright: contributors to nodelatency.monitor
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AnsibleModule for the modules that read and change firewalls through commands.

``AnsibleModule.run_command`` waits for output with select() and a timeout of one
second, and stops reading when a wait sees nothing and the command has exited by
then (ansible/ansible#51393). A command that is kept off the CPU for a second, as
happens with a hundred modules on two cores, can write all of its output and exit
inside that gap, and the module then sees it succeed with nothing printed: an
``ip6tables-nft-save`` that seems to hold no tables, a ``nft -j`` that is not JSON.
A ruleset read short is a wrong plan, so these modules read every command to its end.
"""

from __future__ import annotations

import os
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native


class CommandModule(AnsibleModule):
    """AnsibleModule whose run_command reads stdout and stderr until the command closes them."""

    def run_command(self, args, check_rc=False, data=None, binary_data=False, **kwargs):
        if check_rc or kwargs or not isinstance(args, (list, tuple)):
            # what these modules never ask for (a shell, a prompt, a working
            # directory) stays with AnsibleModule's own
            return super().run_command(args, check_rc=check_rc, data=data, binary_data=binary_data, **kwargs)
        env = dict(os.environ)
        env.update(self.run_command_environ_update or {})
        if data and not binary_data:
            data += "\n"
        argv = [to_bytes(arg, errors="surrogate_or_strict") for arg in args]
        try:
            # communicate() reads both pipes to their end before it waits for the exit
            process = subprocess.run(argv, input=to_bytes(data) if data else None,  # pylint: disable=ansible-bad-function
                                     capture_output=True, env=env, check=False)
        except OSError as error:
            self.fail_json(rc=error.errno, msg=to_native(error), cmd=" ".join(to_native(arg) for arg in args))
        return (process.returncode, to_native(process.stdout, errors="surrogate_or_strict"),
                to_native(process.stderr, errors="surrogate_or_strict"))
