# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every report filter does with its arguments before rendering."""

from __future__ import annotations

from collections.abc import Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report import ReportError, build_matrix


def matrix_for(filter_name, data, hosts):
    """The matrix of data, with input errors reported as the filter's own."""
    if hosts is not None and (isinstance(hosts, (str, bytes)) or not isinstance(hosts, Sequence)):
        raise AnsibleFilterError("%s: hosts must be a list of host names, got %s" % (filter_name, type(hosts).__name__))
    try:
        return build_matrix(data, None if hosts is None else [str(host) for host in hosts])
    except ReportError as exc:
        raise AnsibleFilterError("%s: %s" % (filter_name, exc)) from exc


def whole_number(filter_name, option, value, minimum):
    """value as an int of at least minimum; booleans are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AnsibleFilterError("%s: %s must be a whole number of at least %d, got %r"
                                 % (filter_name, option, minimum, value))
    return value
