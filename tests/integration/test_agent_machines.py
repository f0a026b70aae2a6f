"""The nlm agent as users run it: the role with nlm_monitor on booted machines over SSH.

Two machines whose boot firewall (iptables-nft, netfilter-persistent) drops echo, linked
with a 20 ms delay. The role opens echo and starts the agent on both; each machine's
metrics are scraped through the machine (over SSH, from its loopback) and parsed with
the Prometheus client's parser, and n1's node_exporter textfile too. Echo dropped by
hand shows as loss within two intervals; an owned rule deleted by hand takes its gauge
to 0, and with repair on the agent puts it back (a real ping proves it);
playbooks/collect.yml renders the reports of the agents' latest cycles. The tests run in
order on one lab, after one converge: n1 watches its rules and writes a textfile, n2
also repairs its rules. The Molecule scenario machines_nftables runs the agent through
idempotence, a reboot and the feature's toggle off, which leaves no unit, user, file or
listening socket.
"""

from __future__ import annotations

import json
import re
import shlex
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

import nlmmachines

pytestmark = [pytest.mark.lab, pytest.mark.machines]

INTERVAL = 1
PORT = 9469
SCRAPE = ("import urllib.request; "
          "print(urllib.request.urlopen('http://127.0.0.1:%d/metrics', timeout=5).read().decode())" % PORT)
PLAY = """\
- name: The nlm role with the agent
  hosts: all
  gather_facts: false
  become: true
  roles:
    - role: nodelatency.monitor.nlm
      vars:
        nlm_monitor: {monitor}
        nlm_monitor_interval: {interval}
        # n1 watches, n2 also repairs: one converge covers both
        nlm_monitor_repair: "{{{{ inventory_hostname == 'n2' }}}}"
        nlm_monitor_textfile: "{{{{ '{textfile}' if inventory_hostname == 'n1' else '' }}}}"
        nlm_probe: false
        nlm_report_table: false
"""
TEXTFILE = "/var/lib/prometheus/node-exporter/nlm.prom"
OWNED_OUT_REQUEST = "NLM-OUTPUT -o antrea-gw0 -p icmp -m icmp --icmp-type 8 -m comment --comment nodelatency.monitor -j ACCEPT"


@pytest.fixture(scope="module")
def lab(module_lab_factory):
    return module_lab_factory(nodes=2, firewall="iptables-nft", kind="machines", delay="n1-n2=20ms")


@pytest.fixture(scope="module")
def converge(lab, run_ansible, tmp_path_factory):
    directory = tmp_path_factory.mktemp("agent-play")

    def run(monitor=True):
        playbook = directory / ("play-%s.yml" % monitor)
        playbook.write_text(PLAY.format(monitor=str(monitor).lower(), interval=INTERVAL, textfile=TEXTFILE))
        result = run_ansible([str(playbook)], lab.inventory_path, program="ansible-playbook", timeout=600)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        return result
    return run


def ssh(lab, node, command, check=True):
    return nlmmachines.Machines(lab).ssh(node, command, check=check)


def scrape(lab, node):
    text = ssh(lab, node, "python3 -c %s" % shlex.quote(SCRAPE)).stdout
    return dict((family.name, family) for family in text_string_to_metric_families(text))


def value(parsed, metric, sample_name, **labels):
    found = [sample.value for sample in parsed[metric].samples
             if sample.name == sample_name and all(sample.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (sample_name, labels, parsed[metric].samples)
    return found[0]


def scrape_with(lab, node, metric):
    """A scrape of ``node`` once ``metric`` has samples, else None."""
    parsed = scrape(lab, node)
    return parsed if parsed[metric].samples else None


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.3)
    pytest.fail("not within %g s: %s (last: %r)" % (timeout, what, last))


def test_the_role_starts_the_agent_on_every_machine_as_its_own_user(lab, converge):
    converge()
    for node in lab.nodes:
        assert ssh(lab, node, "systemctl is-active nlm-agent; systemctl is-enabled nlm-agent; "
                              "ps -o user:20= -C python3,python | sort -u").stdout.split() == \
            ["active", "enabled", "nlm-agent"]


def test_the_metrics_scraped_through_each_machine_show_the_20_ms_link(lab):
    for node, peer in (lab.nodes, reversed(lab.nodes)):
        parsed = wait_for(lambda: scrape_with(lab, node, "nlm_last_rtt_seconds"),
                          10 * INTERVAL + 10, "a cycle on %s" % node.name)
        for family in ("ipv4", "ipv6"):
            labels = dict(source=node.name, peer=peer.name, family=family)
            assert 0.018 <= value(parsed, "nlm_last_rtt_seconds", "nlm_last_rtt_seconds", **labels) <= 0.05
            assert value(parsed, "nlm_rtt_seconds", "nlm_rtt_seconds_bucket", le="0.0128", **labels) == 0
            assert value(parsed, "nlm_rtt_seconds", "nlm_rtt_seconds_bucket", le="0.0256", **labels) >= 1
            assert value(parsed, "nlm_probes_received", "nlm_probes_received_total", **labels) >= 1
        assert value(parsed, "nlm_rule_present", "nlm_rule_present", interface="antrea-gw0", family="ipv4",
                     direction="in", message="echo-request") == 1
        assert parsed["nlm_last_cycle_timestamp_seconds"].samples[0].value > time.time() - 30


def test_the_textfile_is_written_whole_for_node_exporter(lab):
    n1 = lab.nodes[0]
    # a link into the agent's state directory: node_exporter's directory stays root's
    text = ssh(lab, n1, "cat %s; stat -L -c '%%A %%U' %s; readlink %s; stat -c '%%U' %s"
               % (TEXTFILE, TEXTFILE, TEXTFILE, TEXTFILE.rsplit("/", 1)[0])).stdout
    metrics, mode, target, directory_owner = text.rstrip("\n").rsplit("\n", 3)
    parsed = dict((family.name, family) for family in text_string_to_metric_families(metrics))
    assert parsed["nlm_last_rtt_seconds"].samples and parsed["nlm_rule_present"].samples
    assert (mode, target, directory_owner) == ("-rw-r--r-- nlm-agent", "/var/lib/nodelatency-monitor/nlm.prom", "root")


def test_collect_renders_the_reports_of_the_agents_latest_cycles(lab, run_ansible, tmp_path):
    result = run_ansible(["nodelatency.monitor.collect", "-e", "nlm_hosts=all", "-e", "nlm_report_dir=%s" % tmp_path],
                         lab.inventory_path, program="ansible-playbook", timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    stats = json.loads(next(tmp_path.glob("nodelatencystats-*.json")).read_text())
    assert [item["metadata"]["name"] for item in stats["items"]] == ["n1", "n2"]
    for item in stats["items"]:
        targets = [target for peer in item["peerNodeLatencyStats"] for target in peer["targetIPLatencyStats"]]
        assert sorted(target["family"] for target in targets) == ["ipv4", "ipv6"]
        assert all(18e6 <= target["lastMeasuredRTTNanoseconds"] <= 50e6 for target in targets), targets
    assert "n1" in (tmp_path / "latency.txt").read_text() and (tmp_path / "latency.html").stat().st_size > 0
    assert "n2" in result.stdout


def test_ad_hoc_modules_find_the_roles_venv_on_their_own(lab, run_ansible):
    """The machines' Python has neither pyroute2 nor icmplib; the role put them into its
    venv. An ad-hoc run with the node's own Python (no interpreter set) still works: the
    modules run themselves again with the venv."""
    n1, n2 = lab.nodes
    assert ssh(lab, n1, "python3 -c 'import icmplib'", check=False).returncode != 0
    targets = json.dumps({"targets": [n2.gateway_ipv4], "count": 1, "timeout": 1.0})
    for module, args in (("nlm_facts", []), ("nlm_probe", ["-a", targets])):
        result = run_ansible(["n1", "-m", "nodelatency.monitor." + module, *args], lab.inventory_path)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert "n1 | SUCCESS" in result.stdout, result.stdout[-3000:]
    # the echo went out and came back: icmplib was there
    assert re.search(r"^\s+received: 1$", result.stdout, re.M), result.stdout[-3000:]


def test_echo_dropped_by_a_peer_shows_as_loss_within_two_intervals(lab):
    n1, n2 = lab.nodes
    labels = dict(source=n1.name, peer=n2.name, family="ipv4")
    drop = "sudo iptables -%s INPUT -p icmp --icmp-type echo-request -j DROP"
    ssh(lab, n2, drop % "I")
    try:
        # a cycle under way may still get its replies: count from the one after it
        time.sleep(INTERVAL + 1.5)
        before = scrape(lab, n1)
        sent = value(before, "nlm_probes_sent", "nlm_probes_sent_total", **labels)
        received = value(before, "nlm_probes_received", "nlm_probes_received_total", **labels)
        time.sleep(2 * INTERVAL + 1.5)
        after = scrape(lab, n1)
        assert value(after, "nlm_probes_sent", "nlm_probes_sent_total", **labels) > sent
        assert value(after, "nlm_probes_received", "nlm_probes_received_total", **labels) == received
        assert not lab.ping(n1, n2.gateway_ipv4, count=1, timeout=1.0)
    finally:
        ssh(lab, n2, drop % "D")


def test_a_deleted_owned_rule_drops_its_gauge_and_repair_puts_it_back(lab):
    n1, n2 = lab.nodes
    labels = dict(interface="antrea-gw0", family="ipv4", direction="out", message="echo-request")

    # n1 only watches: the gauge falls to 0 and the ping fails
    ssh(lab, n1, "sudo iptables -D " + OWNED_OUT_REQUEST)
    wait_for(lambda: value(scrape(lab, n1), "nlm_rule_present", "nlm_rule_present", **labels) == 0,
             2 * INTERVAL + 5, "the gauge at 0")
    assert not lab.ping(n1, n2.gateway_ipv4, count=1, timeout=1.0)

    # n2 repairs: the rule is put back where it was, counted, and n2's echo passes again
    before = ssh(lab, n2, "sudo iptables-save | grep -v '^[#:]'").stdout
    ssh(lab, n2, "sudo iptables -D " + OWNED_OUT_REQUEST)
    parsed = wait_for(lambda: scrape_with(lab, n2, "nlm_rules_repaired"),
                      2 * INTERVAL + 5, "the rule put back")
    assert value(parsed, "nlm_rules_repaired", "nlm_rules_repaired_total", **labels) == 1
    assert value(parsed, "nlm_rule_present", "nlm_rule_present", **labels) == 1
    assert lab.ping(n2, n1.gateway_ipv4, count=1, timeout=1.0)
    assert ssh(lab, n2, "sudo iptables-save | grep -v '^[#:]'").stdout == before
    assert "put back the owned rule antrea-gw0 ipv4 out echo-request" in \
        ssh(lab, n2, "sudo journalctl -u nlm-agent --no-pager").stdout
