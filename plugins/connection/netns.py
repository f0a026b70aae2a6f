# Copyright (c) nodelatency.monitor developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: netns
short_description: Run tasks inside a Linux network namespace on the controller
version_added: 0.1.0
author: nodelatency.monitor contributors (@nodelatency)
description:
  - Runs modules and commands on the controller, as P(ansible.builtin.local#connection) does,
    but inside a named network namespace, entered with C(ip netns exec).
  - Because C(ip netns exec) bind-mounts every entry of C(/etc/netns/<namespace>/) over the
    same name in C(/etc), a host sees its own copy of those files (for example persisted
    firewall rules and the C(iptables) alternatives). File transfers honour that view, so
    P(ansible.builtin.fetch#module) of C(/etc/iptables/rules.v4) returns the namespace's copy.
  - The namespace is taken from O(netns); when that is not set, from C(ansible_host), which
    defaults to the inventory hostname.
  - Made for the lab of this collection, for tests with Molecule's delegated driver and
    testinfra (C(ansible://) with C(force_ansible=True)), and for anyone who tests network
    code without machines. The controller runs as root (entering a namespace needs
    C(CAP_SYS_ADMIN)).
options:
  netns:
    description:
      - Name of the network namespace, as C(ip netns list) shows it (a file in C(/run/netns)).
      - When more than one of the variables is set, C(ansible_netns) wins over C(nlm_netns).
      - When not set, C(ansible_host) is used, and when that is not set either, the inventory hostname.
    type: str
    vars:
      - name: nlm_netns
      - name: ansible_netns
  ip_executable:
    description:
      - The iproute2 C(ip) command used to enter the namespace; a name looked up in E(PATH) or an absolute path.
    type: str
    default: ip
    vars:
      - name: ansible_netns_ip_executable
  become_success_timeout:
    description:
      - Number of seconds to wait for become to succeed when enabled, as for the local connection.
    type: int
    default: 10
    vars:
      - name: ansible_local_become_success_timeout
  become_strip_preamble:
    description:
      - Strip internal become output preceding command execution, as for the local connection.
    type: bool
    default: true
    vars:
      - name: ansible_local_become_strip_preamble
extends_documentation_fragment:
  - connection_pipelining
notes:
  - The remote user is ignored, as with the local connection; tasks run as the user who runs Ansible.
  - Namespace names may not contain C(/), NUL or white space, and may not be C(.) or C(..).
seealso:
  - name: ip-netns(8)
    description: How C(ip netns exec) enters a namespace and binds C(/etc/netns/<namespace>/) files.
    link: https://man7.org/linux/man-pages/man8/ip-netns.8.html
"""

EXAMPLES = r"""
---
# Inventory: every host is a namespace made by the lab (make lab-up).
all:
  children:
    nlm_nodes:
      vars:
        ansible_connection: nodelatency.monitor.netns
      hosts:
        n1:
          nlm_netns: nlm-n1
        n2:
          ansible_netns: nlm-n2
        nlm-n3: {}  # no variable: the inventory hostname is the namespace

# Ad hoc, with the lab's inventory:
#   ansible all -i .lab/inventory.yml -m ansible.builtin.setup
# testinfra:
#   pytest --hosts='ansible://all?force_ansible=True' --ansible-inventory=.lab/inventory.yml
"""

import os
import pty
import shutil
import subprocess
import typing as t

import ansible.constants as C
from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.connection.local import Connection as LocalConnection
from ansible.utils.display import Display

display = Display()

NETNS_RUN_DIR = "/run/netns"
NETNS_ETC_DIR = "/etc/netns"


def netns_name_problem(name: t.Any) -> str | None:
    """Why name cannot be a network namespace name, or None when it can."""
    if not isinstance(name, str) or not name:
        return "no network namespace name was given"
    if name in (".", "..") or any(char == "/" or char == "\0" or char.isspace() for char in name):
        return f"{name!r} is not a valid network namespace name (no '/', NUL or white space, not '.' or '..')"
    if len(name.encode()) > 255:
        return f"network namespace name {name[:40]!r}... is longer than 255 bytes"
    return None


def namespace_view_path(path: str, bound_etc_entries: t.Iterable[str], netns: str) -> str:
    """The controller path of what a process inside netns sees at path.

    ``ip netns exec`` bind-mounts /etc/netns/<netns>/<entry> over /etc/<entry>, so
    /etc/<entry>/... inside the namespace is /etc/netns/<netns>/<entry>/... outside.
    """
    normalized = os.path.normpath(path)
    parts = normalized.split(os.sep)
    if len(parts) >= 3 and parts[0] == "" and parts[1] == "etc" and parts[2] in set(bound_etc_entries):
        return os.path.join(NETNS_ETC_DIR, netns, *parts[2:])
    return path


def namespace_argv(ip_executable: str, netns: str, shell_executable: str, cmd: str) -> list[str]:
    """The argv that runs the shell command cmd inside netns."""
    return [ip_executable, "netns", "exec", netns, shell_executable, "-c", cmd]


class Connection(LocalConnection):
    """Local execution entered into a network namespace."""

    transport = "nodelatency.monitor.netns"
    has_pipelining = True

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._netns: str | None = None
        self._ip_executable: str | None = None

    def _connect(self) -> Connection:
        if not self._connected:
            netns = self.get_option("netns") or self._play_context.remote_addr
            problem = netns_name_problem(netns)
            if problem:
                raise AnsibleConnectionFailure(
                    f"netns connection: {problem}; set ansible_netns (or nlm_netns, or ansible_host) to the name of an existing namespace")
            if not os.path.exists(os.path.join(NETNS_RUN_DIR, netns)):
                raise AnsibleConnectionFailure(
                    f"netns connection: network namespace {netns!r} does not exist (no {NETNS_RUN_DIR}/{netns}); "
                    "list the namespaces with `ip netns list`, or bring the lab up with `make lab-up`")
            ip_executable = shutil.which(self.get_option("ip_executable"))
            if not ip_executable:
                raise AnsibleConnectionFailure(
                    f"netns connection: the ip command {self.get_option('ip_executable')!r} was not found; "
                    "install iproute2 or set ansible_netns_ip_executable")
            self._netns = netns
            self._ip_executable = ip_executable
            display.vvv(f"ESTABLISH NETNS CONNECTION INTO {netns}", host=self._play_context.remote_addr)
        super()._connect()
        return self

    def exec_command(self, cmd: str, in_data: bytes | None = None, sudoable: bool = True) -> tuple[int, bytes, bytes]:
        """Run the shell command cmd inside the namespace."""
        # ConnectionBase.exec_command connects first, which sets _netns; LocalConnection's
        # own exec_command cannot be reused because it runs cmd through a shell directly.
        super(LocalConnection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        shell_executable = C.DEFAULT_EXECUTABLE.split()[0] if C.DEFAULT_EXECUTABLE else "/bin/sh"
        argv = namespace_argv(self._ip_executable, self._netns, shell_executable, to_text(cmd))
        display.vvv(f"EXEC {argv!r}", host=self._play_context.remote_addr)

        pty_primary = None
        stdin: t.Any = subprocess.PIPE
        if sudoable and self.become and self.become.expect_prompt() and not self.get_option("pipelining"):
            # As in the local connection: a become method that prompts needs a terminal.
            try:
                pty_primary, stdin = pty.openpty()
            except OSError as ex:
                display.debug(f"Unable to open pty: {ex}")
        try:
            process = subprocess.Popen(argv, cwd=self.cwd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as ex:
            raise AnsibleConnectionFailure(f"netns connection: could not run {argv[0]}: {ex}") from ex
        if pty_primary is not None:
            os.close(stdin)
        become_stdout, become_stderr = self._ensure_become_success(process, pty_primary, sudoable)
        stdout, stderr = process.communicate(in_data)
        if pty_primary:
            os.close(pty_primary)
        return process.returncode, become_stdout + stdout, become_stderr + stderr

    def _host_path(self, path: str) -> str:
        etc = os.path.join(NETNS_ETC_DIR, self._netns)
        try:
            bound = os.listdir(etc)
        except OSError:
            return path
        return namespace_view_path(path, bound, self._netns)

    def put_file(self, in_path: str, out_path: str) -> None:
        """Copy a controller file to where the namespace sees out_path."""
        self._connect()
        super().put_file(in_path, self._host_path(out_path))

    def fetch_file(self, in_path: str, out_path: str) -> None:
        """Copy what the namespace sees at in_path to the controller path out_path."""
        self._connect()
        source = self._host_path(in_path)
        display.vvv(f"FETCH {source} TO {out_path}", host=self._play_context.remote_addr)
        try:
            shutil.copyfile(to_bytes(source, errors="surrogate_or_strict"), to_bytes(out_path, errors="surrogate_or_strict"))
        except OSError as ex:
            raise AnsibleError(f"netns connection: failed to fetch {in_path!r} from {self._netns}: {ex}") from ex
