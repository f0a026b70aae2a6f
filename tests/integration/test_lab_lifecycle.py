"""The lab leaves nothing behind: after down, after a failed up, after a killed run,
after a test that fails half-way; and it never changes the root namespace."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import nlmlab

pytestmark = pytest.mark.lab

LAB_CLI = nlmlab.REPO / "lab" / "nlmlab.py"
CONFTEST = Path(__file__).with_name("conftest.py")


def root_network() -> dict[str, str]:
    """The root namespace's links and routes, as ip shows them."""
    return {
        "links": "\n".join(sorted(line.split(":")[1].strip().split("@")[0]
                                  for line in subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                                                             check=True).stdout.splitlines())),
        "routes": subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True, check=True).stdout,
        "routes6": subprocess.run(["ip", "-6", "route", "show", "table", "all"], capture_output=True, text=True, check=True).stdout,
    }


def traces(name: str, state_dir: Path | None = None) -> dict[str, list]:
    """Everything of lab name that still exists: namespaces, /etc/netns dirs, and
    processes that name the lab or its state directory (the delay daemons do)."""
    pattern = nlmlab.Lab(name=name)._namespace_re
    namespaces = sorted(entry for entry in os.listdir(nlmlab.NETNS_RUN_DIR) if pattern.match(entry)) \
        if nlmlab.NETNS_RUN_DIR.is_dir() else []
    etc = sorted(entry for entry in os.listdir(nlmlab.NETNS_ETC_DIR) if pattern.match(entry)) \
        if nlmlab.NETNS_ETC_DIR.is_dir() else []
    processes = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            if f"{name}-n".encode() in cmdline or (state_dir and str(state_dir).encode() in cmdline):
                processes.append(int(entry))
        except OSError:
            continue
    return {"namespaces": namespaces, "etc": etc, "processes": processes}


NOTHING = {"namespaces": [], "etc": [], "processes": []}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(LAB_CLI), *args], capture_output=True, text=True, timeout=120, check=False)


def unique_name() -> str:
    return "c" + secrets.token_hex(3)


def test_down_removes_namespaces_files_and_daemons_and_can_run_again(lab_factory, tmp_path):
    before = root_network()
    lab = lab_factory(nodes=3, firewall="iptables-nft", delay="n1-n2=4ms", state_dir=tmp_path / "state")
    daemons = json.loads(lab.state_path.read_text())["daemon_pids"]
    assert len(daemons) == 2
    assert all(Path(f"/proc/{pid}").exists() for pid in daemons)
    assert len(traces(lab.name)["namespaces"]) == 4
    assert lab.inventory_path.exists()
    assert root_network() == before

    lab.down()
    assert traces(lab.name, lab.state_dir) == NOTHING
    assert not any(Path(f"/proc/{pid}").exists() for pid in daemons)
    assert not (tmp_path / "state").exists()
    assert root_network() == before
    lab.down()
    assert traces(lab.name) == NOTHING


def test_up_that_fails_half_way_removes_what_it_made(tmp_path, monkeypatch):
    name = unique_name()
    # Node firewalls are loaded after namespaces, links and the delay files exist: break them there.
    monkeypatch.setattr(nlmlab, "render_iptables", lambda firewall, family: "*filter\n-A NOSUCHCHAIN -j ACCEPT\nCOMMIT\n")
    lab = nlmlab.Lab(name=name, nodes=3, firewall="iptables-nft", state_dir=tmp_path / "state")
    try:
        with pytest.raises(nlmlab.LabError, match="iptables-restore"):
            lab.up()
        assert traces(name) == NOTHING
        assert not (tmp_path / "state").exists()
    finally:
        lab.down()


def test_down_sweeps_a_lab_whose_up_was_killed(tmp_path):
    """No state file, a stray process in a node: down finds everything by the lab's name."""
    name = unique_name()
    state_dir = tmp_path / "state"
    try:
        result = cli("up", "--name", name, "--state-dir", str(state_dir), "--nodes", "2", "--delay", "n1-n2=2ms")
        assert result.returncode == 0, result.stderr
        (state_dir / "state.json").unlink()
        stray = subprocess.Popen(["ip", "netns", "exec", f"{name}-n1", "sleep", "300"], start_new_session=True)
        result = cli("down", "--name", name, "--state-dir", str(state_dir))
        assert result.returncode == 0, result.stderr
        assert stray.wait(timeout=10) == -signal.SIGTERM
        assert traces(name, state_dir) == NOTHING
    finally:
        nlmlab.Lab(name=name, state_dir=state_dir).down()


FAILING_TEST = '''
import os

import pytest


@pytest.fixture(scope="module")
def module_lab(module_lab_factory):
    return module_lab_factory(name=os.environ["NLM_MODULE_LAB"], nodes=2)


def test_fails_half_way(lab_factory, module_lab):
    lab = lab_factory(name=os.environ["NLM_TEST_LAB"], nodes=2, firewall="none", delay="n1-n2=2ms")
    assert lab.ping(lab.node("n1"), lab.node("n2").gateway_ipv4)
    raise AssertionError("failing on purpose half-way")
'''


def test_a_test_that_fails_half_way_leaves_no_lab_behind(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text())
    (tmp_path / "test_failing.py").write_text(FAILING_TEST)
    names = {"NLM_TEST_LAB": unique_name(), "NLM_MODULE_LAB": unique_name()}
    try:
        result = subprocess.run([sys.executable, "-m", "pytest", "-c", str(nlmlab.REPO / "pytest.ini"), "-p", "no:cacheprovider",
                                 "--confcutdir", str(tmp_path),
                                 "--basetemp", str(tmp_path / "basetemp"), str(tmp_path / "test_failing.py")],
                                env={**os.environ, **names}, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "failing on purpose half-way" in result.stdout
        assert "1 failed" in result.stdout
        for name in names.values():
            assert traces(name, tmp_path / "basetemp") == NOTHING
    finally:
        for name in names.values():
            nlmlab.Lab(name=name, state_dir=tmp_path / name).down()


def test_up_over_an_existing_lab_replaces_it_and_says_so(tmp_path):
    name = unique_name()
    state_dir = tmp_path / "state"
    try:
        assert cli("up", "--name", name, "--state-dir", str(state_dir), "--nodes", "3").returncode == 0
        result = cli("up", "--name", name, "--state-dir", str(state_dir), "--nodes", "2", "--mode", "noEncap")
        assert result.returncode == 0, result.stderr
        assert f"lab {name!r} already exists (4 namespaces); replacing it" in result.stderr
        assert traces(name)["namespaces"] == [f"{name}-n1", f"{name}-n2", f"{name}-net"]
        assert json.loads((state_dir / "state.json").read_text())["mode"] == "noEncap"
    finally:
        nlmlab.Lab(name=name, state_dir=state_dir).down()


@pytest.mark.parametrize(("args", "message"), [
    (["--nodes", "0"], "nodes must be a whole number from 1 to 240"),
    (["--delay", "n1-n9=5ms"], "names n9, which is not a node of this lab"),
    (["--delay", "n1-n2=5"], "is not of the form n1-n2=20ms"),
    (["--delay", "n1-n1=5ms"], "links a node to itself"),
    (["--delay", "n1-n2=5ms,n2-n1=3ms"], "repeats the link n1-n2"),
    (["--name", "Bad-Name"], "lab name 'Bad-Name' must be 1-8 lower-case letters or digits"),
])
def test_bad_input_is_refused_before_anything_is_made(tmp_path, args, message):
    name = unique_name()
    state_dir = tmp_path / "state"
    result = cli("up", "--name", name, "--state-dir", str(state_dir), *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert traces(name) == NOTHING
    assert not state_dir.exists()


def test_inventory_describes_every_node_for_ansible(lab_factory, run_ansible):
    lab = lab_factory(nodes=3, mode="hybrid")
    result = run_ansible(["--list"], lab.inventory_path, program="ansible-inventory")
    assert result.returncode == 0, result.stderr
    inventory = json.loads(result.stdout)
    assert inventory["nlm_nodes"]["hosts"] == ["n1", "n2", "n3"]
    for node in lab.nodes:
        hostvars = inventory["_meta"]["hostvars"][node.name]
        assert hostvars["ansible_connection"] == "nodelatency.monitor.netns"
        assert hostvars["ansible_python_interpreter"] == sys.executable
        assert hostvars["ansible_become"] is False
        assert {key: hostvars[key] for key in (
            "nlm_netns", "nlm_traffic_mode", "nlm_transport_interface", "nlm_gateway_interface", "nlm_transport_ipv4",
            "nlm_transport_ipv6", "nlm_gateway_ipv4", "nlm_gateway_ipv6", "nlm_pod_cidr_ipv4", "nlm_pod_cidr_ipv6")} == {
            "nlm_netns": node.netns, "nlm_traffic_mode": "hybrid", "nlm_transport_interface": "eth0",
            "nlm_gateway_interface": "antrea-gw0", "nlm_transport_ipv4": node.transport_ipv4,
            "nlm_transport_ipv6": node.transport_ipv6, "nlm_gateway_ipv4": node.gateway_ipv4,
            "nlm_gateway_ipv6": node.gateway_ipv6, "nlm_pod_cidr_ipv4": node.pod_cidr_ipv4,
            "nlm_pod_cidr_ipv6": node.pod_cidr_ipv6}


def test_each_node_has_its_own_etc_files(lab_factory):
    lab = lab_factory(nodes=2, firewall="iptables-legacy")
    n1, n2 = lab.nodes
    lab.run(n1, ["tee", "/etc/iptables/rules.v4"], input="n1 only\n")
    assert lab.run(n1, ["cat", "/etc/iptables/rules.v4"]).stdout == "n1 only\n"
    assert lab.run(n2, ["cat", "/etc/iptables/rules.v4"]).stdout == nlmlab.render_iptables("iptables-legacy", 4)
    assert not Path("/etc/iptables/rules.v4").exists() or Path("/etc/iptables/rules.v4").read_text() != "n1 only\n"
    for node in lab.nodes:
        assert lab.run(node, ["ls", "/etc/sysconfig"]).stdout == ""
        assert "trafficEncapMode: encap" in lab.run(node, ["cat", "/etc/antrea/antrea-agent.conf"]).stdout
        assert "holds no rules" in lab.run(node, ["cat", "/etc/nftables.conf"]).stdout


def test_a_hundred_nodes_come_up_connected_and_go_down(lab_factory, ping_all):
    lab = lab_factory(nodes=100, firewall="iptables-nft", mode="hybrid", delay="n1-n100=2ms")
    assert len(traces(lab.name)["namespaces"]) == 101
    first, middle, last = lab.node("n1"), lab.node("n50"), lab.node("n100")
    assert ping_all(lab, [(first, last.gateway_ipv4), (last, middle.transport_ipv6)]) == [False, False]
    tcp_probe = [sys.executable, "-c", "import socket, sys; socket.create_connection((sys.argv[1], 22), timeout=5)"]
    refused = lab.run(first, [*tcp_probe, last.gateway_ipv4], check=False)
    assert "ConnectionRefusedError" in refused.stderr  # the peer answered across the overlay, through both firewalls
    lab.down()
    assert traces(lab.name, lab.state_dir) == NOTHING
