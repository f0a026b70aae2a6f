"""nlm_icmp_allow and nlm_icmp_allow_info on firewalld machines (FIREWALL=firewalld).

Each machine boots firewalld (nftables backend) hardened as the lab's other firewalls:
its default zone drops ICMP echo in, a policy drops it out. The modules run over SSH as
the operator with sudo, as users run them, and every claim that echo passes or is
dropped is a real ping between the machines.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess

import pytest

import nlmmachines

pytestmark = [pytest.mark.lab, pytest.mark.machines]

ALLOW = "nodelatency.monitor.nlm_icmp_allow"
INFO = "nodelatency.monitor.nlm_icmp_allow_info"
GATEWAY = '{"interfaces": ["antrea-gw0"]}'
# every file firewalld's permanent configuration is made of, with its content
# a Python without dbus-python on n1, made by the test that uses it
NO_DBUS = "/var/tmp/nlm-no-dbus/bin/python"
CONFIGURATION = "sudo find /etc/firewalld -type f -print0 | sort -z | sudo xargs -0 sha256sum"


@pytest.fixture(scope="module")
def lab(module_lab_factory):
    return module_lab_factory(nodes=2, firewall="firewalld", kind="machines")


@pytest.fixture(scope="module")
def remote(lab):
    return nlmmachines.Machines(lab)


@pytest.fixture(scope="module")
def configuration_before(lab, remote):
    """Each machine's /etc/firewalld as it booted, before any test changed it."""
    return {node.name: remote.ssh(node, CONFIGURATION).stdout for node in lab.nodes}


def run(run_ansible, lab, module, arguments, hosts="all", *extra):
    return run_ansible([hosts, "-m", module, "-a", arguments, *extra], lab.inventory_path)


def passes(lab, source, address):
    return lab.ping(source, address, count=2, timeout=1.0)


def echo(lab):
    """{(source, kind, family): whether echo passes} between the two machines, both ways
    (the pings side by side: a dropped one waits for its timeout)."""
    n1, n2 = lab.nodes
    probes = {}
    for source, target in ((n1, n2), (n2, n1)):
        for kind, family, address in (("gateway", "ipv4", target.gateway_ipv4), ("gateway", "ipv6", target.gateway_ipv6),
                                      ("transport", "ipv4", target.transport_ipv4),
                                      ("transport", "ipv6", target.transport_ipv6)):
            probes[(source.name, kind, family)] = (source, address)
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(probes)) as pool:
        futures = {key: pool.submit(passes, lab, source, address) for key, (source, address) in probes.items()}
    return {key: future.result() for key, future in futures.items()}


def only_gateways_open(found):
    return all(passing is (kind == "gateway") for (_source, kind, _family), passing in found.items())


def rich_rules(remote, node, policy, permanent=False):
    result = remote.ssh(node, "sudo firewall-cmd %s--policy=%s --list-rich-rules" % ("--permanent " if permanent else "",
                                                                                     policy), check=False)
    return result.stdout.splitlines() if result.returncode == 0 else []


def test_the_hardened_firewalld_drops_echo_both_ways(lab, remote, configuration_before):
    for node in lab.nodes:
        assert remote.ssh(node, "sudo firewall-cmd --state").stdout.strip() == "running"
    assert not any(echo(lab).values())


def test_check_mode_changes_nothing(lab, remote, run_ansible, configuration_before):
    result = run(run_ansible, lab, ALLOW, GATEWAY, "all", "--check", "--diff")
    assert result.stdout.count("CHANGED") == 2, result.stdout
    assert 'destination address=\\"%s\\"' % lab.nodes[0].gateway_ipv4 in result.stdout or \
        'destination address="%s"' % lab.nodes[0].gateway_ipv4 in result.stdout, result.stdout
    for node in lab.nodes:
        assert remote.ssh(node, CONFIGURATION).stdout == configuration_before[node.name]
    assert not any(echo(lab).values())


def test_bad_input_is_refused_and_changes_nothing(lab, remote, run_ansible, configuration_before):
    missing = run(run_ansible, lab, ALLOW, '{"interfaces": ["nosuch0"]}', "n1")
    assert "n1 | FAILED" in missing.stdout, missing.stdout
    assert "nosuch0 has no global ipv4 or ipv6 address" in missing.stdout
    raw = run(run_ansible, lab, ALLOW, '{"interfaces": ["antrea-gw0"], "backend": "iptables-nft"}', "n1")
    assert "backend iptables-nft would change its tables behind its back" in raw.stdout, raw.stdout
    pattern = run(run_ansible, lab, ALLOW, '{"interfaces": ["antrea-gw+"]}', "n1")
    assert "n1 | FAILED" in pattern.stdout, pattern.stdout
    for node in lab.nodes:
        assert remote.ssh(node, CONFIGURATION).stdout == configuration_before[node.name]


def test_present_opens_gateway_echo_both_families_and_the_transport_stays_closed(
        lab, remote, run_ansible, configuration_before):
    result = run(run_ansible, lab, ALLOW, GATEWAY)
    assert result.stdout.count("CHANGED") == 2, result.stdout
    assert only_gateways_open(echo(lab)), echo(lab)
    n1 = lab.nodes[0]
    for policy, side in (("nlm-echo-in", "destination"), ("nlm-echo-out", "source")):
        for permanent in (False, True):
            rules = rich_rules(remote, n1, policy, permanent)
            assert len(rules) == 4, rules
            assert all('%s address="%s"' % (side, address) in rule
                       for rule in rules for address in [n1.gateway_ipv4 if "ipv4" in rule else n1.gateway_ipv6])


def test_a_second_run_changes_nothing(lab, run_ansible):
    result = run(run_ansible, lab, ALLOW, GATEWAY)
    assert result.stdout.count("SUCCESS") == 2 and "CHANGED" not in result.stdout, result.stdout


def test_info_reads_presence_from_firewalld_and_effectiveness_from_the_kernel(lab, run_ansible):
    result = run_ansible(["n1", "-m", INFO, "-a", '{"interfaces": ["antrea-gw0", "eth0"]}', "-o"], lab.inventory_path)
    report = json.loads(result.stdout.split("=>", 1)[1])["icmp_allow"]
    assert report["backend"] == "firewalld" and report["firewalld"]["running"] is True
    assert report["firewalld"]["interfaces"]["antrea-gw0"]["zone"] == "public"
    for family in ("ipv4", "ipv6"):
        for entry in report[family]["rules"]:
            if entry["interface"] == "antrea-gw0":
                assert entry["present"] and entry["effective"], entry
                assert all(rule["runtime"] and rule["permanent"] for rule in entry["firewalld_rules"])
            elif entry["message"] == "echo-request":
                # the transport is closed, and the report names firewalld's rule that closes it
                assert not entry["present"] and not entry["effective"], entry
                assert "inet firewalld" in entry["shadowed_by"], entry
                # in, the zone's rich rule; out, the lab's policy
                where = "zone public" if entry["direction"] == "in" else "policy lab-echo-out"
                assert entry["firewalld_dropped_by"].startswith(
                    where + ", its ICMP blocks and its rich rules that drop or reject: "), entry


def test_concurrent_runs_on_one_node_leave_one_copy(lab, remote, run_ansible, ansible_environment):
    """Two runs at once for the gateway and the transport interface: both land, once each.
    One asks firewalld in process (the machine's Python has firewalld's dbus-python), the
    other through busctl (a virtual environment without it, as the role's)."""
    remote.ssh(lab.nodes[0], "python3 -m venv --without-pip %s" % NO_DBUS.rsplit("/bin/", 1)[0])
    env = {**os.environ, **ansible_environment}
    runs = [subprocess.Popen([str(nlmmachines.REPO / ".venv" / "bin" / "ansible"), "-i", str(lab.inventory_path), "n1",
                              "-m", ALLOW, "-a", '{"interfaces": ["%s"], "ip_versions": ["ipv4"]}' % name, *extra],
                             env=env, stdout=subprocess.PIPE, text=True)
            for name, extra in (("antrea-gw0", ()), ("eth0", ("-e", "ansible_python_interpreter=" + NO_DBUS)))]
    outputs = [process.communicate(timeout=300)[0] for process in runs]
    assert all("FAILED" not in output for output in outputs), outputs
    assert "via: dbus-python" in outputs[0] and "via: busctl" in outputs[1], outputs
    n1 = lab.nodes[0]
    for permanent in (False, True):
        rules = rich_rules(remote, n1, "nlm-echo-in", permanent)
        # antrea-gw0's four (both families), eth0's two (IPv4), each once
        assert len(rules) == 6 and len(set(rules)) == 6, rules
    undo = run(run_ansible, lab, ALLOW, '{"interfaces": ["eth0"], "state": "absent"}', "n1",
               "-e", "ansible_python_interpreter=" + NO_DBUS)
    assert "n1 | CHANGED" in undo.stdout and "via: busctl" in undo.stdout, undo.stdout
    assert only_gateways_open(echo(lab)), echo(lab)


def test_a_firewalld_reload_and_a_reboot_keep_the_rules(lab, remote):
    n1, n2 = lab.nodes
    remote.ssh(n1, "sudo firewall-cmd --reload")
    assert only_gateways_open(echo(lab))
    remote.reboot(n2)
    assert remote.ssh(n2, "sudo firewall-cmd --state").stdout.strip() == "running"
    assert only_gateways_open(echo(lab)), echo(lab)


def test_absent_keeps_runtime_only_changes_restores_etc_firewalld_and_closes_echo(
        lab, remote, run_ansible, configuration_before):
    n1 = lab.nodes[0]
    # a runtime-only change of the operator's, which firewalld's reload alone would drop
    remote.ssh(n1, "sudo firewall-cmd --zone=public --add-port=7777/tcp")
    try:
        result = run(run_ansible, lab, ALLOW, '{"interfaces": ["antrea-gw0"], "state": "absent"}')
        assert result.stdout.count("CHANGED") == 2, result.stdout
        assert remote.ssh(n1, "sudo firewall-cmd --zone=public --query-port=7777/tcp", check=False).stdout.strip() \
            == "yes"
    finally:
        remote.ssh(n1, "sudo firewall-cmd --zone=public --remove-port=7777/tcp", check=False)
    for node in lab.nodes:
        assert remote.ssh(node, CONFIGURATION).stdout == configuration_before[node.name]
    assert not any(echo(lab).values())
