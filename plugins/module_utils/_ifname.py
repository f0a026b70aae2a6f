# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network interface names, validated the way the Linux kernel does (dev_valid_name)."""

from __future__ import annotations

# IFNAMSIZ is 16 including the terminating NUL.
MAX_INTERFACE_NAME_LENGTH = 15

# The kernel refuses '/', ':' and whitespace. Quotes and backslashes are legal for
# the kernel but cannot be written unambiguously into an iptables-restore line.
_FORBIDDEN = set("/: \t\n\v\f\r\0\"'\\")


def interface_name_problem(name):
    """Return why ``name`` is not a usable interface name, or None if it is."""
    if not isinstance(name, str) or not name:
        return "an interface name must be a non-empty string"
    if len(name) > MAX_INTERFACE_NAME_LENGTH:
        return "interface name %r is %d characters long; the kernel allows 1 to %d" % (
            name, len(name), MAX_INTERFACE_NAME_LENGTH)
    if name in (".", ".."):
        return "interface name %r is reserved by the kernel" % name
    bad = sorted(set(name) & _FORBIDDEN)
    if bad:
        return "interface name %r contains %s (whitespace, '/', ':', quotes and backslashes are not allowed)" % (
            name, ", ".join(repr(char) for char in bad))
    return None


def invalid_interface_names(names):
    """Return one message per invalid name in ``names`` (empty when all are valid)."""
    return [problem for problem in (interface_name_problem(name) for name in names) if problem]


def pattern_problem(name):
    """Why ``name`` would be a pattern in a firewall rule rather than one interface
    (iptables reads a trailing ``+`` and nftables a ``*`` as a wildcard), or None."""
    if isinstance(name, str) and (name.endswith("+") or "*" in name):
        return ("interface name %r is a pattern (a trailing '+' or a '*' matches many interfaces, a lone '+' "
                "every one): name each interface exactly" % name)
    return None
