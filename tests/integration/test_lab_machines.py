"""The machine lab (KIND=machines): booted Debian machines in the lab's namespaces.

Each node boots the shared image with its own layer, runs systemd and sshd, and is
reached over SSH through its namespace as the operator, who becomes root with sudo.
Its firewall is loaded by its own boot services (netfilter-persistent, nftables.service, ufw)
and drops ICMP echo both ways while the overlay carries other traffic; a reboot keeps
the layer and loads the firewall again; each machine has a cgroup of its own; lab-down
leaves no process, mount, namespace, cgroup, layer or key behind.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

import nlmlab
import nlmmachines

pytestmark = [pytest.mark.lab, pytest.mark.machines]


# iptables-nft machines boot, load their rules and reboot in test_agent_machines.py and
# the Molecule scenario machines, nftables machines in the Molecule scenario
# machines_nftables, on every run; here ufw's, which only this file boots
@pytest.fixture(scope="module", params=["ufw"])
def lab(request, module_lab_factory):
    return module_lab_factory(nodes=2, firewall=request.param, kind="machines")


def machines(lab):
    return nlmmachines.Machines(lab)


def ping(lab, source, address):
    return lab.ping(source, address, count=2, timeout=1.0)


def test_each_machine_runs_systemd_and_answers_as_its_operator(lab):
    for node in lab.nodes:
        result = machines(lab).ssh(node, "id -un; sudo -n id -u; hostname; cat /proc/1/comm; "
                                         "systemctl is-system-running --wait; systemctl --failed --no-legend")
        words = result.stdout.split()
        assert words[:4] == ["nlm", "0", node.name, "systemd"], result.stderr
        # the boot finished with no unit failed
        assert words[4:] == ["running"], result.stdout
        # its own root filesystem, not the host's
        assert machines(lab).ssh(node, "test ! -e %s && echo own" % Path(__file__).resolve()).stdout.strip() == "own"


def test_the_boot_firewall_drops_echo_both_ways_while_the_overlay_carries_tcp(lab):
    n1, n2 = lab.nodes
    for address in (n2.gateway_ipv4, n2.gateway_ipv6):
        assert not ping(lab, n1, address)
    for address in (n1.gateway_ipv4, n1.gateway_ipv6):
        assert not ping(lab, n2, address)
    # sshd of n2, over the overlay, through both firewalls
    banner = lab.run(n1, ["socat", "-T2", "STDIO", "TCP:%s:22" % n2.gateway_ipv4], input="").stdout
    assert banner.startswith("SSH-"), banner


def _cgroups(pid):
    """{hierarchy's controllers: path} of a process (the unified hierarchy's key is '')."""
    lines = Path("/proc/%d/cgroup" % pid).read_text().splitlines()
    return {line.split(":", 2)[1]: line.split(":", 2)[2] for line in lines}


def test_each_machine_runs_in_a_cgroup_of_its_own(lab):
    """Machines in one cgroup share their unit cgroups: each systemd removes the other's,
    and a unit fails at random at its start ("Failed at step CGROUP")."""
    paths = {}
    for node in lab.nodes:
        cgroups = _cgroups(machines(lab).init_pid(node))
        own = "/%s/%s-%s/" % (nlmmachines.CGROUP_PARENT, lab.name, node.name)
        for key in ("", "name=systemd"):
            if key in cgroups:
                assert own in cgroups[key], cgroups
        paths[node.name] = cgroups[""]
    assert len(set(paths.values())) == len(lab.nodes), paths


RELOAD = {"ufw": "sudo systemctl restart ufw"}


def test_a_reboot_keeps_the_layer_and_loads_the_firewall_again(lab):
    n1, n2 = lab.nodes
    remote = machines(lab)
    remote.ssh(n2, "echo kept | sudo tee /etc/nlm-test-marker >/dev/null")
    # both firewalls emptied by hand: echo passes until n2 boots again
    for node in (n1, n2):
        remote.ssh(node, "sudo nft flush ruleset")
    # and a table no boot file knows: a reboot starts from an empty firewall
    remote.ssh(n2, "sudo nft add table inet nlmtest")
    try:
        assert ping(lab, n1, n2.gateway_ipv4)
        remote.reboot(n2)
        assert remote.ssh(n2, "cat /etc/nlm-test-marker").stdout.strip() == "kept"
        assert "nlmtest" not in lab.run(n2, ["nft", "list", "tables"]).stdout
        state = remote.ssh(n2, "systemctl is-system-running --wait; systemctl --failed --no-legend", check=False)
        assert state.stdout.strip() == "running", state.stdout
        assert not ping(lab, n1, n2.gateway_ipv4)
    finally:
        remote.ssh(n1, RELOAD[lab.firewall])
        remote.ssh(n2, "sudo rm -f /etc/nlm-test-marker")


def test_ufw_is_active_on_a_ufw_machine(lab):
    if lab.firewall != "ufw":
        pytest.skip("ufw machines only")
    status = machines(lab).ssh(lab.nodes[0], "sudo ufw status verbose").stdout
    assert "Status: active" in status and "deny (incoming)" in status, status


def test_on_a_ufw_machine_the_rules_let_echo_through_until_a_reboot_as_the_module_warns(lab, run_ansible):
    """ufw reloads only its own rules at boot, and no file the module keeps is restored
    there: the module says so, and a real reboot shows it."""
    if lab.firewall != "ufw":
        pytest.skip("ufw machines only")
    n1, n2 = lab.nodes
    result = run_ansible(["all", "-m", "nodelatency.monitor.nlm_icmp_allow", "-a", "interfaces=antrea-gw0"],
                         lab.inventory_path)
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        # one line for both hosts: Ansible prints a warning once
        assert "[WARNING]: ufw loads this node's firewall at boot" in result.stderr, result.stdout + result.stderr
        assert all(ping(lab, source, address) for source, target in ((n1, n2), (n2, n1))
                   for address in (target.gateway_ipv4, target.gateway_ipv6))
        machines(lab).reboot(n2)
        assert not ping(lab, n1, n2.gateway_ipv4) and not ping(lab, n1, n2.gateway_ipv6)
    finally:
        run_ansible(["all", "-m", "nodelatency.monitor.nlm_icmp_allow", "-a", "interfaces=antrea-gw0 state=absent"],
                    lab.inventory_path)


def test_ufw_needs_machines():
    """ufw is a service that loads its rules at boot: a namespace node has no boot."""
    with pytest.raises(nlmlab.LabError, match="needs machines"):
        nlmlab.Lab(name="tufw", nodes=1, firewall="ufw")


def _rtt_ms(lab, source, address):
    result = lab.run(source, ["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", address], check=False)
    match = re.search(r"= [\d.]+/([\d.]+)/", result.stdout)
    return float(match.group(1)) if match else None


def test_a_delayed_link_keeps_its_delay_across_a_reboot(lab_factory):
    """The delay hooks live in the namespace's firewall, which a reboot empties: the
    supervisor puts them back once the machine is up."""
    lab = lab_factory(nodes=2, firewall="none", kind="machines", delay="n1-n2=20ms")
    n1, n2 = lab.nodes
    assert _rtt_ms(lab, n1, n2.gateway_ipv4) >= 18
    machines(lab).reboot(n2)
    deadline = time.monotonic() + 30
    while (_rtt_ms(lab, n1, n2.gateway_ipv4) or 0) < 18 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _rtt_ms(lab, n1, n2.gateway_ipv4) >= 18


def _machine_processes(*markers: str):
    """The machine supervisors and systemd-nspawn processes whose command line names one
    of markers: the Molecule layer boots machines of its own labs beside this one."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                comm = Path("/proc", entry, "comm").read_text().strip()
                cmdline = Path("/proc", entry, "cmdline").read_bytes()
            except OSError:
                continue
            if (comm == "systemd-nspawn" or nlmmachines.SUPERVISOR.name.encode() in cmdline) \
                    and any(marker.encode() in cmdline for marker in markers):
                found.add(int(entry))
    return found


def _namespaces():
    return set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.split())


def _mounts(marker: str):
    return [line for line in Path("/proc/mounts").read_text().splitlines() if marker in line]


def _machine_cgroups(lab):
    return [path for directory in nlmmachines.cgroup_directories()
            for path in (directory / nlmmachines.CGROUP_PARENT).glob(lab.name + "-*")]


def test_lab_down_leaves_nothing_behind(lab_factory, tmp_path):
    lab = lab_factory(nodes=2, firewall="iptables-nft", kind="machines", state_dir=tmp_path / "state")
    # a supervisor and a systemd-nspawn per machine
    assert len(_machine_processes(lab.name, str(tmp_path))) == 2 * len(lab.nodes)
    assert machines(lab).key.exists()
    assert len(_machine_cgroups(lab)) == len(nlmmachines.cgroup_directories()) * len(lab.nodes)
    lab.down()
    assert _machine_cgroups(lab) == []
    assert _machine_processes(lab.name, str(tmp_path)) == set()
    assert {name for name in _namespaces() if name.startswith(lab.name + "-")} == set()
    assert _mounts(lab.name) == [] and _mounts(str(tmp_path)) == []
    # the tmpfs systemd-nspawn needs is the labs' to share: mounted while a machine of any
    # lab runs, and gone with the last one
    with nlmmachines.nspawn_lock():
        assert not os.path.ismount(nlmmachines.NSPAWN_RUN) or nlmmachines._machines_running()
    assert not (tmp_path / "state" / nlmmachines.STATE_DIR).exists()
