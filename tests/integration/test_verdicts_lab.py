"""Verdicts built for real: the role turns the rules on, then each fault is made in a
namespace of its own, the measure entry point probes with real ICMP and reads the
firewalls of the pairs without reply, and every report must name each pair's verdict and
the rule behind it. Then the SLO gate, on the lab's 20 ms link.

Five nodes, native nftables (iptables-nft for the REJECT), encap:
- n2 drops every IPv4 echo request in (a table of its own ahead of the role's rules):
  blocked there, and no node reaches n2 over IPv4;
- n3 drops IPv6 echo requests out: its kernel refuses the send, blocked here, and n3
  reaches no node over IPv6;
- n4 REJECTs n1's IPv4 echo requests with an ICMP error: unreachable, with that rule,
  and n4 -> n1 works where n1 -> n4 does not;
- n4 has a blackhole route to n3: no reply, and no firewall drops it;
- n1 drops one of three IPv6 requests to n2: lossy;
- n5's links are down and Ansible cannot reach it either: peer down.
"""

from __future__ import annotations

import json

import pytest
import yaml

pytestmark = pytest.mark.lab

DROP_IN = "icmp type echo-request drop"


@pytest.fixture(scope="module")
def lab(module_lab_factory):
    return module_lab_factory(nodes=5, firewall="nftables", mode="encap", delay="n1-n3=20ms")


@pytest.fixture(scope="module")
def faulty(lab, run_ansible, tmp_path_factory):
    """The lab after the role's on-run and the faults: (inventory, rulesets before the faults)."""
    on = run_ansible(["playbooks/site.yml", "-e", json.dumps({"nlm_probe": False})], lab.inventory_path,
                     program="ansible-playbook")
    assert on.returncode == 0, on.stdout[-3000:] + on.stderr
    n1, n2, n3, n4, n5 = lab.nodes
    for node, hook, rule in (
            (n2, "input", DROP_IN),
            (n3, "output", "icmpv6 type echo-request drop"),
            (n1, "output", "ip6 daddr %s icmpv6 type echo-request numgen inc mod 3 == 0 drop" % n2.gateway_ipv6)):
        table = "table inet fault {\n chain %s {\n  type filter hook %s priority -10\n  %s\n }\n}\n" % (hook, hook, rule)
        lab.run(node, ["nft", "-f", "-"], input=table)
    lab.run(n4, ["iptables-nft", "-I", "INPUT", "-s", n1.gateway_ipv4, "-p", "icmp", "--icmp-type", "echo-request",
                 "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"])
    lab.run(n4, ["ip", "route", "add", "blackhole", n3.gateway_ipv4 + "/32"])
    for link in ("eth0", "antrea-gw0"):
        lab.run(n5, ["ip", "link", "set", link, "down"])
    # Ansible reaches the namespaces without their network; n5 it must not reach at all,
    # as SSH over its dead links would not: it is given an address nothing routes to
    inventory = yaml.safe_load(open(lab.inventory_path))
    hosts = inventory["all"]["children"]["nlm_nodes"]["hosts"]
    hosts["n5"].update({"ansible_connection": "ssh", "ansible_host": "192.0.2.1",
                        "ansible_ssh_common_args": "-o ConnectTimeout=1"})
    path = tmp_path_factory.mktemp("verdicts") / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def measure(run_ansible, inventory, report_dir, **extra):
    return run_ansible(["playbooks/probe.yml", "-e", json.dumps({"nlm_report_dir": str(report_dir), **extra})],
                       inventory, program="ansible-playbook")


@pytest.fixture(scope="module")
def reports(faulty, run_ansible, tmp_path_factory, lab):
    report_dir = tmp_path_factory.mktemp("reports")
    run = measure(run_ansible, faulty, report_dir)
    # n5 is unreachable, which Ansible counts as a failure of the play; every other node ran
    recap = dict((line.split()[0], line) for line in run.stdout.split("PLAY RECAP", 1)[1].splitlines()[1:] if line)
    assert "unreachable=1" in recap["n5"], run.stdout[-3000:]
    for node in ("n1", "n2", "n3", "n4"):
        assert "unreachable=0" in recap[node] and "failed=0" in recap[node], recap[node]
    (stats_file,) = report_dir.glob("nodelatencystats-*.json")
    return {"stdout": run.stdout, "table": (report_dir / "latency.txt").read_text(), "stats_path": stats_file,
            "stats": json.loads(stats_file.read_text()), "html": (report_dir / "latency.html").read_text()}


def verdicts(stats):
    """{(source, target, family): (verdict, reason)} of a NodeLatencyStats list."""
    found = {}
    for item in stats["items"]:
        for peer in item["peerNodeLatencyStats"]:
            for target in peer["targetIPLatencyStats"]:
                found[(item["metadata"]["name"], peer["nodeName"], target["family"])] = (
                    target["verdict"], target["verdictReason"])
    return found


def test_each_fault_gets_its_verdict_and_its_rule(reports, lab, ping_all):
    n1, n2, n3, n4, n5 = lab.nodes
    found = verdicts(reports["stats"])
    # the kernel agrees with every verdict: what failed fails for ping too, what works works
    assert ping_all(lab, [(n1, n2.gateway_ipv4), (n2, n1.gateway_ipv4), (n1, n4.gateway_ipv4),
                          (n4, n1.gateway_ipv4), (n3, n4.gateway_ipv4), (n2, n5.gateway_ipv4)]) == [
        False, True, False, True, False, False]
    for source in ("n1", "n3", "n4"):
        verdict, reason = found[(source, "n2", "ipv4")]
        assert verdict == "blocked there", (source, verdict, reason)
        assert reason == "n2's firewall drops the echo-request in: nftables inet fault input #1: " + DROP_IN
    for target in ("n1", "n2", "n4"):
        verdict, reason = found[("n3", target, "ipv6")]
        assert verdict == "blocked here", (target, verdict, reason)
        assert reason == ("n3's kernel refused to send (Operation not permitted); n3's firewall drops the "
                          "echo-request out: nftables inet fault output #1: icmpv6 type echo-request drop")
    verdict, reason = found[("n1", "n4", "ipv4")]
    assert verdict == "unreachable"
    assert reason.startswith("destination unreachable (communication administratively prohibited) from %s; "
                             "n4's firewall drops the echo-request in: iptables-nft ip filter INPUT #1: -A INPUT -s %s/32"
                             % (n4.gateway_ipv4, n1.gateway_ipv4)), reason
    assert found[("n3", "n4", "ipv4")] == ("no reply", "n4: %s no route to it" % n3.gateway_ipv4)
    assert found[("n1", "n2", "ipv6")] == ("lossy", "1 of 3 replies lost")
    for source in ("n1", "n2", "n3", "n4"):
        for family in ("ipv4", "ipv6"):
            # n3's own firewall refuses its IPv6 probes before n5 could fail to answer them
            expected = "blocked here" if (source, family) == ("n3", "ipv6") else "peer down"
            assert found[(source, "n5", family)][0] == expected, (source, family)
    assert found[("n2", "n1", "ipv4")] == ("ok", None)
    assert found[("n4", "n1", "ipv4")] == ("ok", None)
    assert not [key for key in found if key[0] == "n5"]


def test_the_reports_name_the_patterns(reports, lab):
    table = reports["table"]
    assert "ipv4: no node reaches n2 (its inbound): nftables inet fault input #1: " + DROP_IN in table
    assert "ipv6: n3 reaches no node (its outbound): nftables inet fault output #1" in table
    assert "ipv4: n4 -> n1 works, n1 -> n4 does not (unreachable)" in table
    assert "ipv4 fails on " in table and "where ipv6 works" in table
    # the same table is printed at the end of the run
    assert "no node reaches n2 (its inbound)" in reports["stdout"]
    assert 'data-verdict="blocked there"' in reports["html"] and 'id="patterns"' in reports["html"]


def test_the_slo_gate_and_the_comparison(faulty, reports, run_ansible, tmp_path, lab):
    """The gate fails with one line per pair and passes on the slow link; the run compares
    itself with the earlier one, where n4 had no route back to n3."""
    n3, n4 = lab.node("n3"), lab.node("n4")
    missing = measure(run_ansible, faulty, tmp_path / "missing", nlm_compare_to=str(tmp_path / "no-such-run.json"))
    assert missing.returncode != 0 and "no-such-run.json" in missing.stdout
    assert "Probe every peer of the play" not in missing.stdout
    lab.run(n4, ["ip", "route", "del", "blackhole", n3.gateway_ipv4 + "/32"])
    failing = measure(run_ansible, faulty, tmp_path / "fail", nlm_slo={"max_loss": 0, "max_avg_rtt_ms": 10},
                      nlm_compare_to=str(reports["stats_path"]))
    assert "n3 -> n4 ipv4: no reply -> ok" in failing.stdout, failing.stdout[-5000:]
    assert failing.returncode != 0
    assert "pair(s) beyond nlm_slo" in failing.stdout
    assert "n1 -> n3 ipv4 %s: avg " % lab.node("n3").gateway_ipv4 in failing.stdout
    assert "n3 -> n1 ipv4 %s: avg " % lab.node("n1").gateway_ipv4 in failing.stdout
    assert "n1 -> n2 ipv4 %s: loss 100.0%% > 0.0%%, avg unknown (no reply) > 10 ms; blocked there" \
        % lab.node("n2").gateway_ipv4 in failing.stdout
    # the reports are written before the gate fails
    assert (tmp_path / "fail" / "latency.txt").exists()
    # n1 and n3 alone over IPv4, on the 20 ms link: beyond 10 ms (the run above), within 30 ms
    pair_only = ["-l", "n1,n3"]
    within = run_ansible(["playbooks/probe.yml", *pair_only, "-e", json.dumps({
        "nlm_ip_versions": ["ipv4"], "nlm_slo": {"max_loss": 0, "max_avg_rtt_ms": 30}})], faulty,
        program="ansible-playbook")
    assert within.returncode == 0, within.stdout[-3000:]
    assert "every pair keeps nlm_slo" in within.stdout
    # where every pair works, no firewall is read
    read = within.stdout.split("Read what those firewalls do with the probes of those pairs", 1)[1].split("TASK [", 1)[0]
    assert "skipping: [n1]" in read and "skipping: [n3]" in read and "ok: [" not in read
