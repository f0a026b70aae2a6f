# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one exception the collection's module_utils raise."""

from __future__ import annotations

import os


class NlmError(Exception):
    """A failure a module reports with fail_json: a message that says what to do,
    plus the stderr and return code of the command behind it, if any."""

    def __init__(self, message, stderr="", rc=None):
        super().__init__(message)
        self.message = message
        self.stderr = stderr
        self.rc = rc

    def fail_kwargs(self):
        """Extra keyword arguments for fail_json."""
        extra = {}
        if self.stderr:
            extra["stderr"] = self.stderr
        if self.rc is not None:
            extra["rc"] = self.rc
        return extra


def command_failed(argv, rc, stderr):
    """The NlmError for a failed firewall command, telling a permission problem apart."""
    if "Permission denied" in stderr or "must be root" in stderr or "Operation not permitted" in stderr:
        advice = "run the task as root (become: true)"
    else:
        advice = "see stderr"
    return NlmError("%s failed (rc=%d): %s" % (os.path.basename(argv[0]), rc, advice), stderr=stderr, rc=rc)
