"""Booted Debian machines in the lab's network namespaces (KIND=machines).

Each node's namespace becomes the network of a machine: systemd-nspawn boots a shared
Debian bookworm root filesystem (built once with mmdebstrap from Debian packages and
cached under .cache/machines/, rebuilt when its package list changes) with the node's
own writable overlay layer on top, which holds its hostname, the operator account, its
SSH host keys and authorised key, and survives the machine's reboots. The controller
reaches sshd through the namespace (``ip netns exec <ns> socat``), so the root
namespace's addresses, routes and firewall stay untouched.

systemd never boots on the host's own root filesystem: every machine has the image as
its root, and the tmpfs that systemd-nspawn needs at /run/systemd/nspawn is the lab's.

A supervisor process per machine (``nlmmachines.py supervise``) runs systemd-nspawn and
starts it again when the machine reboots (systemd-nspawn then exits with status 133),
in the same namespace with the same layer; ``down`` powers the machines off and removes
every process, mount, layer, cgroup and key.

Each machine has a cgroup of its own (``nlm-machines/<machine>`` under the one the lab
runs in): with --keep-unit and no systemd on the host, systemd-nspawn puts its payload
in the caller's cgroup, and two machines booted from one cgroup would share it. Their
systemds would then create and remove each other's unit cgroups, and a unit of one
machine fails at random ("Failed at step CGROUP ... No such file or directory").
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "machines"
SUITE = "bookworm"
# firewalld is in the image every flavour but ufw boots, masked unless FIREWALL=firewalld
# (its package enables it): one image fewer to build than a firewalld image of its own.
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "sudo", "python3", "python3-venv", "iproute2",
    "iptables", "nftables", "netfilter-persistent", "iptables-persistent", "iputils-ping", "ca-certificates",
    "firewalld",
)
# ufw breaks netfilter-persistent (both restore the firewall at boot): its machines boot
# an image of their own.
UFW_PACKAGES = tuple(package for package in PACKAGES
                     if package not in ("netfilter-persistent", "iptables-persistent", "firewalld")) + ("ufw",)
OPERATOR = "nlm"
REQUIREMENTS = REPO / "roles" / "nlm" / "files" / "requirements-node.txt"
# Where the machines find the wheels of the node libraries, as an air-gapped cluster
# finds them on a share: the machines have no route to a package index.
WHEELS_IN_MACHINE = "/srv/nlm-wheels"
NSPAWN_RUN = Path("/run/systemd/nspawn")
REBOOT_STATUS = 133
# a boot takes 10 to 20 s; on a 2-core machine busy with make test's other labs one took
# longer than a minute to let its operator in
BOOT_TIMEOUT = 120
POWEROFF_TIMEOUT = 20


class MachineError(Exception):
    """A machine could not be built, booted or reached; the message says what to do."""


def image_key(packages=PACKAGES, suite=SUITE) -> str:
    return hashlib.sha256(("%s\n%s\n" % (suite, "\n".join(sorted(packages)))).encode()).hexdigest()[:16]


def _cached_build(target: Path, argv_into, failure: str) -> Path:
    """``target``, built once by the command ``argv_into(directory)`` into a directory of this
    process that becomes ``target`` when complete; ``failure`` (with rc and stderr) says
    what to do when the command fails."""
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # one build at a time: make test builds the images ahead, beside sanity, while a
    # test that needs one waits for it here
    with open(target.parent / (target.name + ".lock"), "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".complete").exists():
            return target
        return _build(target, argv_into, failure)


def _build(target: Path, argv_into, failure: str) -> Path:
    building = target.parent / ("building-%s-%d" % (target.name, os.getpid()))
    shutil.rmtree(building, ignore_errors=True)
    argv = argv_into(building)
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        raise MachineError(failure % (result.returncode, result.stderr.strip()[-2000:]))
    (building / ".complete").write_text(" ".join(argv) + "\n")
    if target.exists():
        shutil.rmtree(building, ignore_errors=True)
    else:
        building.rename(target)
    return target


def base_image(packages=PACKAGES, suite=SUITE, cache=CACHE) -> Path:
    """The root filesystem every machine boots, built when its package list is new."""
    return _cached_build(
        cache / ("base-%s" % image_key(packages, suite)),
        lambda building: ["mmdebstrap", "--variant=minbase", "--include=" + ",".join(packages), "--quiet",
                          # the machines get their rules from the lab, not from a package's defaults
                          "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-exclude=/usr/share/man/*",
                          suite, str(building)],
        "mmdebstrap could not build the machines' image (rc=%d): %s; install mmdebstrap (make setup) and make "
        "sure Debian's package mirror answers")


def wheel_directory(requirements: Path = REQUIREMENTS, cache: Path = REPO / ".cache") -> Path:
    """The wheels of the node libraries (and what they need), downloaded once per
    version of the requirements file."""
    return _cached_build(
        cache / ("wheels-%s" % hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]),
        lambda building: [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                          "--only-binary=:all:", "--dest", str(building), "--requirement", str(requirements)],
        "pip could not download the node libraries' wheels (rc=%d): %s; make sure the package index answers "
        "(the lab serves these wheels to its machines)")


# Labs of several processes (Molecule scenarios side by side) share the tmpfs: it is
# mounted and unmounted under this lock, and only when no machine's supervisor runs.
NSPAWN_LOCK = Path("/run/nlm-nspawn.lock")


@contextlib.contextmanager
def nspawn_lock():
    with open(NSPAWN_LOCK, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_nspawn_tmpfs() -> None:
    """systemd-nspawn keeps its per-machine state under /run/systemd/nspawn, which must
    be a tmpfs; /run is not one here. Called under nspawn_lock()."""
    NSPAWN_RUN.mkdir(parents=True, exist_ok=True)
    if not os.path.ismount(NSPAWN_RUN):
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "nlm-nspawn", str(NSPAWN_RUN)], check=True)


def _machines_running() -> bool:
    """Whether a machine of any lab runs or is about to (its supervisor is started
    before its systemd-nspawn)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path("/proc", entry, "comm").read_text().strip() == "systemd-nspawn":
                    return True
                if SUPERVISOR.name.encode() in Path("/proc", entry, "cmdline").read_bytes() \
                        and b"supervise" in Path("/proc", entry, "cmdline").read_bytes():
                    return True
            except OSError:
                continue
    return False


def release_nspawn_tmpfs() -> None:
    """Unmount the tmpfs the lab mounted, once no machine uses it."""
    with nspawn_lock():
        if os.path.ismount(NSPAWN_RUN) and not _machines_running():
            subprocess.run(["umount", str(NSPAWN_RUN)], check=False)


CGROUP_PARENT = "nlm-machines"
CGROUPS_FILE = "cgroups"


def cgroup_directories() -> list[Path]:
    """This process's cgroup directory in each hierarchy a booted systemd keeps its units
    in: the unified one (cgroup2) and, on a hybrid host, the named systemd one."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _hierarchy, controllers, path = line.split(":", 2)
        own[controllers] = path
    directories = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        dash = fields.index("-")
        root, mount_point, fstype, options = fields[3], fields[4], fields[dash + 1], fields[dash + 3]
        key = "" if fstype == "cgroup2" else "name=systemd" if (
            fstype == "cgroup" and "name=systemd" in options.split(",")) else None
        if key is None or key not in own:
            continue
        relative = os.path.relpath(own[key], root)
        if not relative.startswith(".."):
            directories.append(Path(mount_point, relative))
    return directories


def enter_machine_cgroup(machine: str, record: Path) -> list[Path]:
    """Move this process into a new cgroup of the machine's own in every hierarchy of
    cgroup_directories(), recording them in ``record``; returns where it was."""
    before = cgroup_directories()
    created = [directory / CGROUP_PARENT / machine for directory in before]
    record.write_text("".join("%s\n" % path for path in created))
    for path in created:
        path.mkdir(parents=True, exist_ok=True)
        (path / "cgroup.procs").write_text("%d\n" % os.getpid())
    return before


def leave_machine_cgroup(before: list[Path], record: Path) -> None:
    for path in before:
        with contextlib.suppress(OSError):
            (path / "cgroup.procs").write_text("%d\n" % os.getpid())
    remove_machine_cgroups(record)


def remove_machine_cgroups(record: Path, kill: bool = False, attempts: int = 20) -> None:
    """Remove the cgroups ``record`` lists, deepest first, and their parent once no
    machine uses it (with ``kill``, killing what still runs in them first); a cgroup
    whose last process is still exiting is busy a moment."""
    if not record.exists():
        return
    for line in record.read_text().splitlines():
        path = Path(line)
        for _attempt in range(attempts):
            if kill:
                for procs in path.rglob("cgroup.procs"):
                    with contextlib.suppress(OSError):
                        for pid in procs.read_text().split():
                            os.kill(int(pid), signal.SIGKILL)
            if not path.exists():
                break
            for directory, _dirs, _files in os.walk(path, topdown=False):
                with contextlib.suppress(OSError):
                    os.rmdir(directory)
            if path.exists():
                time.sleep(0.05)
        with contextlib.suppress(OSError):
            path.parent.rmdir()
    record.unlink()


def _append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def prepare_layer(base: Path, layer: Path, hostname: str, public_key: str, files: dict[str, str]) -> None:
    """The node's own layer over the image: hostname, the operator with passwordless
    sudo and the lab's key, and ``files`` ({path in the machine: content})."""
    etc = layer / "etc"
    (etc / "sudoers.d").mkdir(parents=True, exist_ok=True)
    (etc / "hostname").write_text(hostname + "\n")
    (etc / "hosts").write_text("127.0.0.1 localhost\n127.0.1.1 %s\n::1 localhost ip6-localhost\n" % hostname)
    for name in ("passwd", "group", "shadow", "gshadow"):
        if (base / "etc" / name).exists():
            shutil.copy2(base / "etc" / name, etc / name)
    _append(etc / "passwd", "%s:x:1000:1000:lab operator:/home/%s:/bin/bash\n" % (OPERATOR, OPERATOR))
    _append(etc / "group", "%s:x:1000:\n" % OPERATOR)
    _append(etc / "shadow", "%s:*:20000:0:99999:7:::\n" % OPERATOR)
    if (etc / "gshadow").exists():
        _append(etc / "gshadow", "%s:!::\n" % OPERATOR)
    (etc / "sudoers.d" / "nlm-operator").write_text("%s ALL=(ALL) NOPASSWD: ALL\n" % OPERATOR)
    os.chmod(etc / "sudoers.d" / "nlm-operator", 0o440)
    ssh = layer / "home" / OPERATOR / ".ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    (ssh / "authorized_keys").write_text(public_key)
    for path in (ssh.parent, ssh, ssh / "authorized_keys"):
        os.chown(path, 1000, 1000)
    os.chmod(ssh, 0o700)
    os.chmod(ssh / "authorized_keys", 0o600)
    for path, content in files.items():
        target = layer / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)


def nspawn_argv(base: Path, layer: Path, netns: str, machine: str, wheels: Path) -> list[str]:
    return ["systemd-nspawn", "--quiet", "--boot", "--register=no", "--keep-unit",
            "--network-namespace-path=/run/netns/%s" % netns, "--directory=%s" % base,
            "--overlay=+/:%s:/" % layer, "--machine=%s" % machine, "--console=read-only",
            "--bind-ro=%s:%s" % (wheels, WHEELS_IN_MACHINE),
            "--capability=CAP_NET_ADMIN,CAP_NET_RAW", "--private-users=no"]


STATE_DIR = "machines"
SUPERVISOR = Path(__file__).resolve()
_LEGACY_COMMANDS = ("iptables", "iptables-restore", "iptables-save", "ip6tables", "ip6tables-restore", "ip6tables-save")


def packages_for(firewall: str) -> tuple[str, ...]:
    return UFW_PACKAGES if firewall == "ufw" else PACKAGES


_UFW_ECHO_ACCEPT = re.compile(r"^(-A ufw6?-before-\S+ -p icmp(?:v6)? --icmp(?:v6)?-type echo-(?:request|reply)) -j ACCEPT$",
                              re.M)


def harden_ufw_rules(text: str, family: int) -> str:
    """ufw's before.rules (or before6.rules) hardened like the lab's other firewalls: its
    own ICMP echo accepts turned into drops, echo dropped on the way out too, and TCP
    and UDP (sshd, the VXLAN overlay) let in."""
    text = _UFW_ECHO_ACCEPT.sub(r"\1 -j DROP", text)
    chain = "ufw-before" if family == 4 else "ufw6-before"
    added = ["# the lab's hardening: ICMP echo dropped both ways, TCP and UDP let in",
             "-A %s-input -p tcp -j ACCEPT" % chain, "-A %s-input -p udp -j ACCEPT" % chain]
    if family == 4:
        added += ["-A ufw-before-output -p icmp --icmp-type echo-request -j DROP",
                  "-A ufw-before-output -p icmp --icmp-type echo-reply -j DROP"]
    head, separator, tail = text.rpartition("\nCOMMIT")
    if not separator:
        raise MachineError("ufw's before%s.rules has no COMMIT line; rebuild the machines' image (rm -r %s)"
                           % ("" if family == 4 else "6", CACHE))
    return head + "\n" + "\n".join(added) + separator + tail


def firewall_files(lab, firewall: str, base: Path) -> dict[str, str]:
    """The files that make a machine's boot load the lab's hardened firewall for
    ``firewall``: netfilter-persistent's rules for the iptables flavours (iptables-legacy
    also points the iptables commands at it), nftables.service's configuration, enabled,
    or ufw enabled with its own rules hardened."""
    import nlmlab
    files = {}
    if firewall == "ufw":
        files["/etc/ufw/ufw.conf"] = "ENABLED=yes\nLOGLEVEL=off\n"
        for family, name in ((4, "before.rules"), (6, "before6.rules")):
            files["/etc/ufw/" + name] = harden_ufw_rules((base / "etc" / "ufw" / name).read_text(), family)
    if firewall in ("iptables-nft", "iptables-legacy", "reject-tail"):
        files["/etc/iptables/rules.v4"] = nlmlab.render_iptables(firewall, 4)
        files["/etc/iptables/rules.v6"] = nlmlab.render_iptables(firewall, 6)
    if firewall == "nftables":
        files["/etc/nftables.conf"] = nlmlab.render_nftables(firewall)
    if firewall == "firewalld":
        files.update(firewalld_files())
    return files


FIREWALLD_ECHO_DROPS = "".join(
    '  <rule>\n    <icmp-type name="%s"/>\n    <drop/>\n  </rule>\n' % name for name in ("echo-request", "echo-reply"))


def firewalld_files() -> dict[str, str]:
    """firewalld hardened like the lab's other firewalls, in its own configuration:
    the default zone (every lab interface is in it) lets TCP and UDP in (sshd, the VXLAN
    overlay) and drops ICMP echo; a policy from the host to any zone drops echo on the
    way out. Other ICMP (errors, neighbour discovery) passes, as in the other flavours."""
    zone = ('<?xml version="1.0" encoding="utf-8"?>\n<zone>\n  <short>Public (nlm lab, hardened)</short>\n'
            '  <protocol value="tcp"/>\n  <protocol value="udp"/>\n' + FIREWALLD_ECHO_DROPS + '</zone>\n')
    policy = ('<?xml version="1.0" encoding="utf-8"?>\n<policy target="CONTINUE" priority="-100">\n'
              '  <short>nlm lab: no echo out</short>\n  <ingress-zone name="HOST"/>\n  <egress-zone name="ANY"/>\n'
              + FIREWALLD_ECHO_DROPS + '</policy>\n')
    return {"/etc/firewalld/zones/public.xml": zone, "/etc/firewalld/policies/lab-echo-out.xml": policy}


def _link(layer: Path, path: str, target: str) -> None:
    link = layer / path.lstrip("/")
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)


# ssh puts the host it connects to in place of %h: the inventory's ansible_host is the
# node's namespace, which also keeps ssh's shared connections of two labs apart (their
# control sockets are named after user, host and port, and both labs have an n1).
PROXY_OPTION = "-o 'ProxyCommand=ip netns exec %h socat STDIO TCP:127.0.0.1:22'"


class Machines:
    """The machines of one lab: boot, inventory, reboot and power-off."""

    def __init__(self, lab) -> None:
        self.lab = lab
        self.dir = lab.state_dir / STATE_DIR
        self.key = self.dir / "id_ed25519"

    def _node_dir(self, node) -> Path:
        return self.dir / node.name

    def boot(self) -> None:
        base = base_image(packages_for(self.lab.firewall))
        wheels = wheel_directory()
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nlm lab %s" % self.lab.name,
                            "-f", str(self.key)], check=True)
        public_key = (self.dir / "id_ed25519.pub").read_text()
        for node in self.lab.nodes:
            layer = self._node_dir(node) / "layer"
            shutil.rmtree(self._node_dir(node), ignore_errors=True)
            layer.mkdir(parents=True)
            prepare_layer(base, layer, node.name, public_key, firewall_files(self.lab, self.lab.firewall, base))
            if self.lab.firewall == "iptables-legacy":
                for command in _LEGACY_COMMANDS:
                    family, _separator, suffix = command.partition("-")
                    _link(layer, "/etc/alternatives/" + command,
                          "/usr/sbin/%s-legacy%s" % (family, "-" + suffix if suffix else ""))
            if self.lab.firewall == "nftables":
                _link(layer, "/etc/systemd/system/sysinit.target.wants/nftables.service",
                      "/lib/systemd/system/nftables.service")
            # one service loads the node's firewall at boot, as on a real node
            if self.lab.firewall == "firewalld":
                _link(layer, "/etc/systemd/system/netfilter-persistent.service", "/dev/null")
            elif self.lab.firewall != "ufw":
                _link(layer, "/etc/systemd/system/firewalld.service", "/dev/null")
            with nspawn_lock():
                ensure_nspawn_tmpfs()
                self._start(node, base, wheels)
        deadline = time.monotonic() + BOOT_TIMEOUT
        for node in self.lab.nodes:
            self._wait_for_ssh(node, deadline)
        for node in self.lab.nodes:
            self._wait_for_login(node, deadline)

    def _start(self, node, base: Path, wheels: Path) -> None:
        argv = nspawn_argv(base, self._node_dir(node) / "layer", node.netns, "%s-%s" % (self.lab.name, node.name),
                           wheels)
        process = subprocess.Popen([sys.executable, str(SUPERVISOR), "supervise", str(self._node_dir(node) / "log"),
                                    *argv], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        (self._node_dir(node) / "pid").write_text("%d\n" % process.pid)

    def _wait_for_ssh(self, node, deadline: float) -> None:
        while time.monotonic() < deadline:
            if _sshd_answers(node.netns):
                return
            time.sleep(0.2)
        raise MachineError("machine %s did not answer on SSH within %d s; its console said:\n%s"
                           % (node.name, BOOT_TIMEOUT, self.console_tail(node)))

    def _wait_for_login(self, node, deadline: float) -> None:
        """sshd answers before the boot lets anyone but root in (pam_nologin keeps
        /run/nologin until systemd-user-sessions has run): the machine is up once its
        operator can log in."""
        last = "no attempt"
        while time.monotonic() < deadline:
            try:
                result = self.ssh(node, "true", check=False, timeout=10)
                if result.returncode == 0:
                    return
                last = "exit %d: %s" % (result.returncode, result.stderr.strip()[-300:])
            except subprocess.TimeoutExpired:
                last = "ssh timed out after 10 s"
            time.sleep(0.2)
        raise MachineError("machine %s answered on SSH but did not let its operator in within %d s (last: %s); "
                           "its console said:\n%s\nits failed units and their journal:\n%s\n%s"
                           % (node.name, BOOT_TIMEOUT, last, self.console_tail(node),
                              self.inside(node, ["systemctl", "--failed", "--no-pager"]),
                              self.inside(node, ["journalctl", "-b", "--no-pager", "-o", "short-monotonic",
                                                 "-u", "systemd-user-sessions", "-p", "warning"])))

    def init_pid(self, node):
        """The machine's PID 1 as the host sees it: supervisor -> systemd-nspawn -> systemd."""
        try:
            pid = int((self._node_dir(node) / "pid").read_text())
            for _level in range(2):
                pid = int(Path("/proc/%d/task/%d/children" % (pid, pid)).read_text().split()[0])
            return pid
        except (OSError, ValueError, IndexError):
            return None

    def inside(self, node, argv: list[str], timeout: float = 20) -> str:
        """What ``argv`` prints run as root inside the machine, entered from the host (nsenter),
        for a failure message when SSH does not let anyone in."""
        pid = self.init_pid(node)
        if pid is None:
            return "(machine not running)"
        try:
            result = subprocess.run(["nsenter", "-t", str(pid), "-a", *argv], capture_output=True, text=True,
                                    timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return "(%s timed out)" % " ".join(argv)
        return (result.stdout + result.stderr).strip()

    def console_tail(self, node, lines: int = 40) -> str:
        """The end of the machine's console log (its boot messages): a failed boot takes its
        state directory with it, so a failure message carries what it said."""
        try:
            text = (self._node_dir(node) / "log").read_text(errors="replace")
        except OSError as error:
            return "(no console log: %s)" % error
        return "\n".join(re.sub(r"\x1b\[[0-9;]*m", "", line) for line in text.splitlines()[-lines:])

    def ssh_argv(self, node) -> list[str]:
        return ["ssh", "-i", str(self.key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
                "-o", "ProxyCommand=ip netns exec %h socat STDIO TCP:127.0.0.1:22", "%s@%s" % (OPERATOR, node.netns)]

    def ssh(self, node, command: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run ``command`` in the machine as the operator."""
        return subprocess.run([*self.ssh_argv(node), command], capture_output=True, text=True, timeout=timeout,
                              check=check)

    def reboot(self, node, timeout: float = BOOT_TIMEOUT) -> None:
        """Reboot the machine from inside, as an operator would, and wait until it
        answers on SSH with a new boot."""
        boot_id = self.ssh(node, "cat /proc/sys/kernel/random/boot_id").stdout.strip()
        self.ssh(node, "sudo systemctl reboot", check=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.ssh(node, "cat /proc/sys/kernel/random/boot_id", check=False, timeout=10)
            if result.returncode == 0 and result.stdout.strip() not in ("", boot_id):
                return
            time.sleep(0.3)
        raise MachineError("machine %s did not come back within %d s of its reboot; its console said:\n%s"
                           % (node.name, timeout, self.console_tail(node)))

    def inventory(self) -> dict:
        """What a user's inventory of these machines holds: SSH as the operator, become with
        sudo, and nothing the lab knows about their networks."""
        hosts = {node.name: {"ansible_host": node.netns} for node in self.lab.nodes}
        return {"all": {"children": {"nlm_nodes": {
            "vars": {
                "ansible_connection": "ssh",
                "ansible_user": OPERATOR,
                "ansible_ssh_private_key_file": str(self.key),
                "ansible_ssh_common_args": PROXY_OPTION,
                "ansible_ssh_extra_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
                "ansible_become": True,
                "nlm_python_pip_extra_args": "--no-index --find-links %s" % WHEELS_IN_MACHINE,
            },
            "hosts": hosts,
        }}}}

    def _supervisors(self) -> list[int]:
        pids = []
        if not self.dir.is_dir():
            return pids
        for pid_file in self.dir.glob("*/pid"):
            try:
                pid = int(pid_file.read_text())
                if SUPERVISOR.name.encode() in Path("/proc/%d/cmdline" % pid).read_bytes():
                    pids.append(pid)
            except (OSError, ValueError):
                continue
        return pids

    def power_off(self) -> None:
        """Power every machine off, killing what has not stopped after POWEROFF_TIMEOUT."""
        pids = self._supervisors()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + POWEROFF_TIMEOUT
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in pids:
            if _alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        # what a killed supervisor left behind
        for record in self.dir.glob("*/" + CGROUPS_FILE) if self.dir.is_dir() else ():
            remove_machine_cgroups(record, kill=True)
        release_nspawn_tmpfs()


def _alive(pid: int) -> bool:
    try:
        status = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return status != "Z"


def _empty_tables(save_text: str) -> str:
    """iptables-restore text that leaves each table of ``save_text`` with its built-in
    chains only, empty and accepting."""
    lines = []
    for line in save_text.splitlines():
        if line.startswith("*") or line == "COMMIT":
            lines.append(line)
        elif line.startswith(":") and not line.split()[1] == "-":
            lines.append("%s ACCEPT [0:0]" % line.split()[0])
    return "\n".join(lines) + "\n"


def reset_netfilter(netns: str) -> None:
    """Empty every firewall of the namespace, as a machine that really reboots starts
    with none: the namespace outlives the machine's boots, and whatever its boot loads
    must be all there is (ufw, for one, flushes only its own chains)."""
    subprocess.run(["ip", "netns", "exec", netns, "nft", "flush", "ruleset"], capture_output=True, check=False)
    for save, restore in (("iptables-legacy-save", "iptables-legacy-restore"),
                          ("ip6tables-legacy-save", "ip6tables-legacy-restore")):
        saved = subprocess.run(["ip", "netns", "exec", netns, save], capture_output=True, text=True, check=False)
        if saved.returncode == 0 and saved.stdout.strip():
            subprocess.run(["ip", "netns", "exec", netns, restore], input=_empty_tables(saved.stdout),
                           capture_output=True, text=True, check=False)


DELAY_HOOKS = "delay-hooks-ipv%d"


def _sshd_answers(netns: str) -> bool:
    result = subprocess.run(["ip", "netns", "exec", netns, "socat", "-T1", "STDIO", "TCP:127.0.0.1:22"], input="",
                            capture_output=True, text=True, timeout=10, check=False)
    return result.stdout.startswith("SSH-")


def restore_delay_hooks(netns: str, node_dir: Path, timeout: float = 2 * BOOT_TIMEOUT) -> None:
    """Put the lab's delay hooks (DELAY) back once the machine has booted: they live in
    the namespace's mangle table, which the reboot emptied and the machine's own firewall
    service may flush. sshd answers after the firewall services have run."""
    hooks = [(family, node_dir / (DELAY_HOOKS % family)) for family in (4, 6)]
    if not any(path.exists() for _family, path in hooks):
        return
    deadline = time.monotonic() + timeout
    while not _sshd_answers(netns):
        if time.monotonic() > deadline:
            return
        time.sleep(0.5)
    for family, path in hooks:
        if path.exists():
            subprocess.run(["ip", "netns", "exec", netns, "iptables-restore" if family == 4 else "ip6tables-restore",
                            "--noflush"], input=path.read_text(), capture_output=True, text=True, check=False)


def supervise(argv: list[str], log: Path) -> int:
    """Run systemd-nspawn until the machine powers off; boot it again after each reboot,
    with the namespace's firewall emptied as a reboot empties a kernel's (and the lab's
    delay hooks put back once it is up)."""
    netns = next(arg.rsplit("/", 1)[1] for arg in argv if arg.startswith("--network-namespace-path="))
    machine = next(arg.split("=", 1)[1] for arg in argv if arg.startswith("--machine="))
    cgroups = log.parent / CGROUPS_FILE
    before = enter_machine_cgroup(machine, cgroups)
    child = None
    rebooted = False

    def stop(signum, _frame):
        if child is not None and child.poll() is None:
            # systemd-nspawn asks the machine's systemd to power off
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while True:
            with open(log, "a", encoding="utf-8") as handle:
                child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=handle, stderr=handle)
                if rebooted:
                    threading.Thread(target=restore_delay_hooks, args=(netns, log.parent), daemon=True).start()
                status = child.wait()
            if status != REBOOT_STATUS:
                return status
            reset_netfilter(netns)
            rebooted = True
    finally:
        leave_machine_cgroup(before, cgroups)


def prepare() -> list[Path]:
    """Build every image and download the wheels the machines need, side by side; the
    first failure is raised once all have ended."""
    jobs = ((base_image, (PACKAGES,)), (base_image, (UFW_PACKAGES,)), (wheel_directory, ()))
    built: dict[int, Path] = {}
    errors: list[MachineError] = []

    def run(index, build, args):
        try:
            built[index] = build(*args)
        except MachineError as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index, build, args)) for index, (build, args) in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [built[index] for index in range(len(jobs))]


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "supervise":
        sys.exit(supervise(sys.argv[3:], Path(sys.argv[2])))
    if sys.argv[1:] == ["prepare"]:
        try:
            for ready in prepare():
                print("nlmmachines: ready: %s" % ready)
        except MachineError as error:
            sys.exit("nlmmachines: %s" % error)
        sys.exit(0)
    sys.exit("usage: nlmmachines.py supervise LOG systemd-nspawn ARGS... | nlmmachines.py prepare")
