# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The owned rules in the files a node restores its firewall from at boot.

- netfilter-persistent restores ``/etc/iptables/rules.v4``/``rules.v6`` and
  iptables-services ``/etc/sysconfig/iptables``/``ip6tables`` with a plain
  ``iptables-restore``: the owned lines go into the section of their table
  (``*filter``, ``*mangle``, ...), chain declarations after the others, rules in
  built-in chains on top of those chains (where the default placement puts them
  live), the owned chains' rules at the end.
- the nftables service loads ``/etc/nftables.conf`` (``/etc/sysconfig/nftables.conf``
  on Red Hat systems) with ``nft -f``: the owned rules go into one marked block at
  its end, as ``insert rule`` commands, which put them on top of the base chains
  the file has just defined, before any drop or reject.

Every line outside the owned ones stays as it was. The merge functions are pure;
``write`` replaces a file's content.
"""

from __future__ import annotations

import os
import tempfile

from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_rules import (
    BUILTIN_DIRECTIONS,
    OWNED_CHAINS,
    is_owned,
)

IPTABLES_FILES = {
    "ipv4": ("/etc/iptables/rules.v4", "/etc/sysconfig/iptables"),
    "ipv6": ("/etc/iptables/rules.v6", "/etc/sysconfig/ip6tables"),
}
NFTABLES_FILES = ("/etc/nftables.conf", "/etc/sysconfig/nftables.conf")
_BLOCK_BEGIN = "# BEGIN nodelatency.monitor nlm_icmp_allow rules tagged %s (this block is rewritten by the module)"
_BLOCK_END = "# END nodelatency.monitor nlm_icmp_allow rules tagged %s"


UFW_CONF = "/etc/ufw/ufw.conf"


def ufw_enabled(path=None):
    """Whether ufw loads this node's firewall at boot (ENABLED=yes in its configuration)."""
    try:
        with open(path or UFW_CONF, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return False
    return any(line.replace(" ", "").lower() in ("enabled=yes", 'enabled="yes"') for line in lines)


def existing(paths):
    """The paths that are files: a mechanism is in use where its file exists
    (directories alone, such as an empty /etc/sysconfig, say nothing)."""
    return [path for path in paths if os.path.isfile(path)]


# --- iptables-restore files --------------------------------------------------------------

def _rule_of_line(line):
    """(chain, spec) of a ``-A`` line, counters stripped, or None."""
    stripped = line.strip()
    if stripped.startswith("["):
        stripped = stripped[stripped.find("]") + 1:].lstrip()
    fields = stripped.split(None, 2)
    if len(fields) >= 2 and fields[0] == "-A":
        return fields[1], fields[2] if len(fields) > 2 else ""
    return None


def _is_owned_line(line, comment):
    stripped = line.strip()
    if stripped.startswith(":"):
        return stripped[1:].split(None, 1)[0] in OWNED_CHAINS.values()
    rule = _rule_of_line(line)
    return rule is not None and is_owned(rule[0], rule[1], comment)


def _split_table(line):
    """(table, line) of an owned line as owned_lines gives it: ``-t mangle -A ...`` or
    a filter table line without the prefix."""
    if line.startswith("-t "):
        _option, table, rest = line.split(" ", 2)
        return table, rest
    return "filter", line


def merge_iptables(text, owned, comment, path):
    """``text`` (an iptables-restore file) with its owned lines replaced by ``owned``
    (lines as ``owned_lines`` returns them)."""
    by_table = {}
    for line in owned:
        table, rest = _split_table(line)
        by_table.setdefault(table, []).append(rest)
    lines = text.splitlines(True)
    sections = [(index, line.strip()[1:]) for index, line in enumerate(lines) if line.strip().startswith("*")]
    missing = sorted(set(by_table) - set(name for _index, name in sections))
    if missing:
        raise NlmError("%s has no *%s table to add the rules to: save the firewall there first "
                       "(iptables-save), or set persist to false" % (path, missing[0]))
    # from the last section back, so that the indexes of the earlier ones stay right
    for start, name in reversed(sections):
        end = next(index for index in range(start, len(lines)) if lines[index].strip() == "COMMIT")
        lines[start + 1:end] = _merge_section(lines[start + 1:end], by_table.get(name, []), comment)
    return "".join(lines)


def _merge_section(body, owned, comment):
    section = [line for line in body if not _is_owned_line(line, comment)]
    headers = ["%s [0:0]\n" % line for line in owned if line.startswith(":")]
    last_header = max([index + 1 for index, line in enumerate(section) if line.strip().startswith(":")] or [0])
    section[last_header:last_header] = headers
    chains = [(_rule_of_line(line) or (None,))[0] for line in section]
    for chain in BUILTIN_DIRECTIONS:
        ours = [line + "\n" for line in owned if line.startswith("-A %s " % chain)]
        first = chains.index(chain) if chain in chains else len(section)
        section[first:first] = ours
        chains[first:first] = [chain] * len(ours)
    section.extend(line + "\n" for line in owned
                   if line.startswith("-A ") and line.split(" ", 2)[1] in OWNED_CHAINS.values())
    return section


# --- nftables configuration ------------------------------------------------------------------

def merge_nftables(text, commands, comment):
    """``text`` (an ``nft -f`` file) without its block of owned rules, and with a new
    one at its end holding ``commands`` when there are any."""
    begin, end = _BLOCK_BEGIN % comment, _BLOCK_END % comment
    kept, inside = [], False
    for line in text.splitlines(True):
        if line.rstrip("\n") == begin:
            inside = True
        elif inside and line.rstrip("\n") == end:
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise NlmError("the block of owned rules in the nftables configuration has no end line %r: "
                       "repair the file, or set persist to false" % end)
    if commands:
        if kept and not kept[-1].endswith("\n"):
            kept[-1] += "\n"
        kept.extend([begin + "\n"] + [command + "\n" for command in commands] + [end + "\n"])
    return "".join(kept)


# --- files ------------------------------------------------------------------------------------

def read(path):
    with open(path) as handle:
        return handle.read()


def _mount_points():
    with open("/proc/self/mountinfo") as mountinfo:
        return {line.split()[4] for line in mountinfo}


def write(module, path, text):
    """Replace the content of ``path``, keeping its mode, owner and security context: a new
    file beside it moved over it with ``module.atomic_move``, so a reader never sees half of
    it; a file that is a mount point itself (bind-mounted, as in containers and the lab)
    cannot be renamed over and is rewritten in place."""
    if path in _mount_points():
        with open(path, "w") as handle:
            handle.write(text)
        return
    descriptor, temporary = tempfile.mkstemp(prefix=".nlm-", dir=os.path.dirname(path))
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        module.atomic_move(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
