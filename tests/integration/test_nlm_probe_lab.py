"""nlm_probe on the lab: real namespaces, real firewalls, real ICMP.

Labs are module-scoped: one without a firewall (with injected delay on two links),
one whose firewall drops ICMP echo, one whose firewall rejects it.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys

import pytest
import yaml

from nlmlab import REPO

pytestmark = pytest.mark.lab

MODULE = "ansible_collections.nodelatency.monitor.plugins.modules.nlm_probe"
RESULT_HEADER = re.compile(r"^(\S+) \| ([A-Z!]+) => ", re.MULTILINE)
# n1-n2 and n1-n3 carry injected delay; n2-n3 none.
DELAYS_MS = {("n2", "n3"): 0.0, ("n1", "n2"): 5.0, ("n1", "n3"): 50.0}


def adhoc(run_ansible, lab, module="nodelatency.monitor.nlm_probe", args=None, limit="all"):
    """Run `ansible <limit> -m module -a args` on the lab; returns ({host: result}, CompletedProcess).

    With a limit, the play holds only the limited hosts: the peers come from the lab's group then.
    """
    argv = [limit, "-m", module]
    if limit != "all":
        args = dict({"peers": "nlm_nodes"}, **(args or {}))
    if args is not None:
        argv += ["-a", json.dumps(args)]
    process = run_ansible(argv, lab.inventory_path)
    results = {}
    headers = list(RESULT_HEADER.finditer(process.stdout))
    decoder = json.JSONDecoder()
    for header in headers:
        results[header.group(1)], _end = decoder.raw_decode(process.stdout, header.end())
        results[header.group(1)]["status"] = header.group(2)
    assert results, "no result in ansible output:\n%s\n%s" % (process.stdout, process.stderr)
    return results, process


def latency(result):
    assert result["status"] == "SUCCESS", result
    assert result["changed"] is False
    return result["ansible_facts"]["nlm_latency"]


def targets_by_peer(facts):
    return dict((peer["name"], peer["targets"]) for peer in facts["peers"])


@pytest.fixture(scope="module")
def open_lab(module_lab_factory, monkeypatch_module):
    monkeypatch_module.setenv("ANSIBLE_CALLBACK_RESULT_FORMAT", "json")
    return module_lab_factory(nodes=3, firewall="none", mode="encap",
                              delay="n1-n2=%gms,n1-n3=%gms" % (DELAYS_MS[("n1", "n2")], DELAYS_MS[("n1", "n3")]))


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


PER_REQUEST_KEYS = {"rtts_ms", "last_send_time", "last_recv_time"}


@pytest.mark.parametrize("module, args", [("nodelatency.monitor.nlm_probe", None), ("nlm_probe", {"keep_rtts": True})])
def test_every_node_reaches_both_peers_on_both_families(open_lab, run_ansible, module, args):
    results, process = adhoc(run_ansible, open_lab, module, args)
    assert process.returncode == 0, process.stdout + process.stderr
    assert sorted(results) == ["n1", "n2", "n3"]
    for name, result in results.items():
        facts = latency(result)
        assert facts["source"] == name
        node_peers = targets_by_peer(facts)
        assert sorted(node_peers) == sorted({"n1", "n2", "n3"} - {name})
        for peer_name, targets in node_peers.items():
            peer = open_lab.node(peer_name)
            # encap mode: the peers' gateway addresses, as Antrea probes them.
            assert [(t["address"], t["family"]) for t in targets] == [
                (peer.gateway_ipv4, "ipv4"), (peer.gateway_ipv6, "ipv6")]
            for target in targets:
                assert (target["sent"], target["received"], target["loss"], target.get("error")) == (3, 3, 0.0, None)
                assert 0 < target["min_rtt_ms"] <= target["last_rtt_ms"] <= target["max_rtt_ms"]
                if args is None:
                    # the default, compact result: no figure per request, and nothing that holds
                    # nothing (three replies: no error or extra replies, no p95 or p99, the median
                    # is the p50)
                    assert not PER_REQUEST_KEYS & set(target)
                    assert not {"error", "duplicates", "late", "p95_rtt_ms", "p99_rtt_ms", "median_rtt_ms"} & set(target)
                    continue
                assert len(target["rtts_ms"]) == 3 and all(rtt > 0 for rtt in target["rtts_ms"])
                assert target["last_rtt_ms"] == target["rtts_ms"][-1]
                assert target["last_recv_time"] >= target["last_send_time"]


def test_max_peers_probes_the_same_sample_every_run_and_every_node_is_probed(open_lab, run_ansible):
    samples = []
    for _run in range(2):
        results, process = adhoc(run_ansible, open_lab, args={"max_peers": 1, "count": 1})
        assert process.returncode == 0, process.stdout + process.stderr
        samples.append(dict((name, sorted(targets_by_peer(latency(result)))) for name, result in results.items()))
    assert samples[0] == samples[1]
    assert all(len(peers) == 1 for peers in samples[0].values())
    assert sorted(peer for peers in samples[0].values() for peer in peers) == ["n1", "n2", "n3"]


@pytest.mark.parametrize("mode, kind", [("noEncap", "gateway"), ("hybrid", "gateway"), ("networkPolicyOnly", "transport")])
def test_traffic_mode_picks_the_addresses_antrea_probes(lab_factory, run_ansible, monkeypatch, mode, kind):
    monkeypatch.setenv("ANSIBLE_CALLBACK_RESULT_FORMAT", "json")
    lab = lab_factory(nodes=3, firewall="none", mode=mode)
    results, process = adhoc(run_ansible, lab, args={"count": 1})
    assert process.returncode == 0, process.stdout + process.stderr
    for name, result in results.items():
        for peer_name, targets in targets_by_peer(latency(result)).items():
            peer = lab.node(peer_name)
            expected = [getattr(peer, "%s_ipv4" % kind), getattr(peer, "%s_ipv6" % kind)]
            assert [t["address"] for t in targets] == expected
            assert all(t["received"] == 1 for t in targets), (name, targets)


def test_transport_addresses_on_request(open_lab, run_ansible):
    results, _process = adhoc(run_ansible, open_lab, args={"target": "transport", "count": 1}, limit="n2")
    targets = targets_by_peer(latency(results["n2"]))
    for peer_name in ("n1", "n3"):
        peer = open_lab.node(peer_name)
        assert [t["address"] for t in targets[peer_name]] == [peer.transport_ipv4, peer.transport_ipv6]
        assert all(t["received"] == 1 for t in targets[peer_name])


def test_bound_to_the_gateway_interface(open_lab, run_ansible):
    results, _process = adhoc(run_ansible, open_lab, args={"interface": "antrea-gw0", "count": 1}, limit="n2")
    facts = latency(results["n2"])
    assert facts["settings"]["interface"] == "antrea-gw0"
    assert all(t["received"] == 1 for targets in targets_by_peer(facts).values() for t in targets)


def test_bound_to_an_interface_without_a_route_loses_everything(open_lab, run_ansible):
    results, process = adhoc(run_ansible, open_lab, args={"interface": "lo", "count": 1, "timeout": 0.3}, limit="n2")
    assert process.returncode == 0
    for targets in targets_by_peer(latency(results["n2"])).values():
        assert all(t["received"] == 0 and t["loss"] == 1.0 for t in targets)


@pytest.mark.parametrize("args, message", [
    ({"interface": "nosuch0"}, "nlm_probe: interface nosuch0 does not exist"),
    ({"interface": "bad/name"}, "nlm_probe: interface name 'bad/name' contains '/'"),
    ({"source": ["198.18.99.99"]}, "nlm_probe: source 198.18.99.99 is not an address of this host"),
    ({"peers": ["n2", "n7"]}, "nlm_probe: peers lists hosts the inventory does not have: n7"),
])
def test_bad_input_fails_with_a_clear_message(open_lab, run_ansible, args, message):
    results, process = adhoc(run_ansible, open_lab, args=args, limit="n1")
    assert process.returncode != 0
    assert results["n1"]["status"] == "FAILED!"
    assert message in results["n1"]["msg"]


FACTS_THEN_PROBE = """\
- name: Probe with addresses from nlm_facts
  hosts: nlm_nodes
  gather_facts: false
  tasks:
    - name: Gather the interfaces
      nodelatency.monitor.nlm_facts:
        transport_interface: eth0
    - name: Probe the peers
      nodelatency.monitor.nlm_probe:
        count: 1
    - name: Keep the result
      ansible.builtin.copy:
        content: "{{ ansible_facts.nlm_latency | to_json }}"
        dest: "%s/{{ inventory_hostname }}.json"
        mode: "0600"
"""


def test_addresses_from_nlm_facts_without_address_variables(open_lab, run_ansible, tmp_path):
    inventory = yaml.safe_load(open_lab.inventory_path.read_text())
    for host_vars in inventory["all"]["children"]["nlm_nodes"]["hosts"].values():
        for name in list(host_vars):
            if name.startswith(("nlm_gateway_ipv", "nlm_transport_ipv")):
                del host_vars[name]
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "playbook.yml").write_text(FACTS_THEN_PROBE % tmp_path)
    process = run_ansible([str(tmp_path / "playbook.yml")], tmp_path / "inventory.yml", program="ansible-playbook")
    assert process.returncode == 0, process.stdout + process.stderr
    for node in open_lab.nodes:
        facts = json.loads((tmp_path / ("%s.json" % node.name)).read_text())
        for peer_name, targets in targets_by_peer(facts).items():
            peer = open_lab.node(peer_name)
            assert [t["address"] for t in targets] == [peer.gateway_ipv4, peer.gateway_ipv6]
            assert all(t["received"] == 1 for t in targets)


def test_unprivileged_datagram_sockets_where_ping_group_range_allows(open_lab, run_ansible):
    node = open_lab.node("n3")
    ping_range = ["sysctl", "-n", "net.ipv4.ping_group_range"]
    before = open_lab.run(node, ping_range).stdout.split()
    try:
        open_lab.run(node, ["sysctl", "-qw", "net.ipv4.ping_group_range=1 0"])
        results, process = adhoc(run_ansible, open_lab, args={"privileged": False}, limit="n3")
        assert process.returncode != 0
        assert "net.ipv4.ping_group_range, which is '1 0' here" in results["n3"]["msg"]

        open_lab.run(node, ["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"])
        results, process = adhoc(run_ansible, open_lab, args={"privileged": False, "count": 2}, limit="n3")
        facts = latency(results["n3"])
        assert facts["settings"]["privileged"] is False
        assert all(t["received"] == 2 for targets in targets_by_peer(facts).values() for t in targets)
    finally:
        open_lab.run(node, ["sysctl", "-qw", "net.ipv4.ping_group_range=%s" % " ".join(before)])


# Root without CAP_NET_RAW: raw ICMP sockets are refused, as for an ordinary user.
WITHOUT_NET_RAW = ["setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw"]


def module_command(node, args, directory, prefix=()):
    """argv running the module's own code inside node's namespace, without Ansible around it."""
    args_file = directory / ("args-%s.json" % node.name)
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    return ["ip", "netns", "exec", node.netns, *prefix, "env", "PYTHONPATH=%s" % (REPO / ".collections"),
            sys.executable, "-m", MODULE, str(args_file)]


def run_module_in(node, args, directory, prefix=(), timeout=120):
    process = subprocess.run(module_command(node, args, directory, prefix), capture_output=True, text=True,
                             timeout=timeout, check=False)
    return json.loads(process.stdout)


def test_auto_falls_back_to_datagram_sockets_without_cap_net_raw(open_lab, tmp_path):
    node = open_lab.node("n2")
    ping_range = ["sysctl", "-n", "net.ipv4.ping_group_range"]
    before = open_lab.run(node, ping_range).stdout.split()
    args = {"targets": [open_lab.node("n3").gateway_ipv4, open_lab.node("n3").gateway_ipv6], "count": 2}
    try:
        open_lab.run(node, ["sysctl", "-qw", "net.ipv4.ping_group_range=0 0"])
        result = run_module_in(node, args, tmp_path, prefix=WITHOUT_NET_RAW)
        latency = result["ansible_facts"]["nlm_latency"]
        assert latency["settings"]["privileged"] is False
        assert [t["received"] for peer in latency["peers"] for t in peer["targets"]] == [2, 2]

        open_lab.run(node, ["sysctl", "-qw", "net.ipv4.ping_group_range=1 0"])
        result = run_module_in(node, args, tmp_path, prefix=WITHOUT_NET_RAW)
        assert result["failed"] is True
        assert result["msg"].startswith("nlm_probe: cannot open an ICMP socket: raw ICMP sockets need CAP_NET_RAW")
        assert "net.ipv4.ping_group_range, which is '1 0' here" in result["msg"]
    finally:
        open_lab.run(node, ["sysctl", "-qw", "net.ipv4.ping_group_range=%s" % " ".join(before)])


def test_concurrent_runs_on_one_node_keep_their_own_replies(open_lab, tmp_path):
    node = open_lab.node("n2")
    peers = [open_lab.node("n3").gateway_ipv4, open_lab.node("n3").gateway_ipv6]
    args = {"targets": peers, "count": 20, "interval": 0.01, "privileged": True}
    argv = module_command(node, args, tmp_path)
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _run in range(3)]
    try:
        outputs = [json.loads(run.stdout.read()) for run in runs]
    finally:
        for run in runs:
            run.stdout.close()
            run.wait(timeout=60)
    for output in outputs:
        for target in output["ansible_facts"]["nlm_latency"]["peers"][0]["targets"]:
            assert (target["sent"], target["received"], target.get("duplicates", 0), target.get("late", 0)) == (20, 20, 0, 0)


@pytest.mark.parametrize("link", sorted(DELAYS_MS), ids=lambda link: "%s-%s" % link)
def test_median_rtt_agrees_with_iputils_ping(open_lab, link, tmp_path):
    source, peer = open_lab.node(link[0]), open_lab.node(link[1])
    count, interval = 30, 0.05
    # Side by side on the same link at the same time, so that both see the
    # same jitter of the lab's user-space delay.
    ping = subprocess.Popen(["ip", "netns", "exec", source.netns, "ping", "-n", "-c", str(count), "-i", str(interval),
                             peer.gateway_ipv4], stdout=subprocess.PIPE, text=True)
    try:
        facts = run_module_in(source, {"targets": [peer.gateway_ipv4], "count": count, "interval": interval,
                                       "keep_rtts": True}, tmp_path)
        ping_output = ping.communicate(timeout=60)[0]
    finally:
        if ping.poll() is None:
            ping.kill()
            ping.wait()
    ping_rtts = [float(match) for match in re.findall(r"time=([0-9.]+) ms", ping_output)]
    target = facts["ansible_facts"]["nlm_latency"]["peers"][0]["targets"][0]
    assert len(ping_rtts) == count and target["received"] == count
    ours, theirs = statistics.median(target["rtts_ms"]), statistics.median(ping_rtts)
    delay = DELAYS_MS[link]
    # A bound about correctness (the probe sees the link's delay, not none or twice it),
    # not accuracy: the accuracy benchmark measures that, side by side, on a quiet machine.
    allowed = max(1.0, 0.25 * delay)
    assert abs(ours - theirs) <= allowed, "median %.4f ms, iputils ping %.4f ms" % (ours, theirs)
    assert ours >= delay


def test_one_thousand_targets_over_one_socket_per_family(open_lab, tmp_path):
    prober, responder = open_lab.node("n2"), open_lab.node("n3")
    addresses_v4 = ["198.18.%d.%d" % (64 + index // 250, 1 + index % 250) for index in range(500)]
    addresses_v6 = ["2001:db8:64::%x" % (index + 1) for index in range(500)]
    batch = ["address add %s/32 dev lo" % address for address in addresses_v4]
    batch += ["address add %s/128 dev lo" % address for address in addresses_v6]
    routes = ["route add 198.18.64.0/22 via %s" % responder.transport_ipv4,
              "route add 2001:db8:64::/64 via %s" % responder.transport_ipv6]
    open_lab.run(responder, ["ip", "-batch", "-"], input="\n".join(batch) + "\n")
    open_lab.run(prober, ["ip", "-batch", "-"], input="\n".join(routes) + "\n")
    try:
        # 32 file descriptors are plenty for one socket per family, and far too few for one per target.
        facts = run_module_in(prober, {"targets": addresses_v4 + addresses_v6, "count": 2, "interval": 0.2}, tmp_path,
                              prefix=["prlimit", "--nofile=32:32"])
        targets = [peer["targets"][0] for peer in facts["ansible_facts"]["nlm_latency"]["peers"]]
        assert len(targets) == 1000
        assert [t["address"] for t in targets] == addresses_v4 + addresses_v6
        assert all(t["received"] == 2 and t.get("error") is None for t in targets)
    finally:
        undo_routes = ["route del" + route[len("route add"):] for route in routes]
        open_lab.run(prober, ["ip", "-batch", "-"], input="\n".join(undo_routes) + "\n", check=False)
        open_lab.run(responder, ["ip", "-batch", "-"], input="\n".join(
            "address del" + line[len("address add"):] for line in batch) + "\n", check=False)


@pytest.fixture(scope="module")
def dropping_lab(module_lab_factory, monkeypatch_module):
    monkeypatch_module.setenv("ANSIBLE_CALLBACK_RESULT_FORMAT", "json")
    return module_lab_factory(nodes=3, firewall="iptables-nft", mode="encap")


def test_dropping_firewall_means_total_loss_within_the_timeout_bound(dropping_lab, run_ansible):
    args = {"count": 2, "interval": 0.2, "timeout": 0.5}
    results, process = adhoc(run_ansible, dropping_lab, args=args)
    assert process.returncode == 0, process.stdout + process.stderr
    assert sorted(results) == ["n1", "n2", "n3"]
    for result in results.values():
        facts = latency(result)
        targets = [t for targets in targets_by_peer(facts).values() for t in targets]
        assert len(targets) == 4
        assert all((t["sent"], t["received"], t["loss"]) == (2, 0, 1.0) for t in targets)
        # Each request waits its own timeout, all targets at once: the run ends
        # timeout after the last round, whatever the number of targets.
        assert facts["duration_seconds"] <= (args["count"] - 1) * args["interval"] + args["timeout"] + 1


def ruleset(lab, node):
    """Both families' rules of a node, without counters."""
    saved = [lab.run(node, [command]).stdout for command in ("iptables-save", "ip6tables-save")]
    return [line for text in saved for line in re.sub(r" \[\d+:\d+\]", "", text).splitlines()
            if not line.startswith("#")]


ECHO_REQUEST_OUT = {"iptables": ["-p", "icmp", "--icmp-type", "echo-request", "-j", "ACCEPT"],
                    "ip6tables": ["-p", "ipv6-icmp", "--icmpv6-type", "echo-request", "-j", "ACCEPT"]}


def test_silent_drop_by_the_peer_is_loss_after_the_timeout(dropping_lab, run_ansible):
    prober = dropping_lab.node("n1")
    before = ruleset(dropping_lab, prober)
    try:
        # Let n1's requests out; the peers' firewalls drop them without a word.
        for command, rule in ECHO_REQUEST_OUT.items():
            dropping_lab.run(prober, [command, "-I", "OUTPUT", "1", *rule])
        args = {"count": 2, "interval": 0.2, "timeout": 0.5}
        results, process = adhoc(run_ansible, dropping_lab, args=args, limit="n1")
        assert process.returncode == 0, process.stdout + process.stderr
        facts = latency(results["n1"])
        for target in [t for targets in targets_by_peer(facts).values() for t in targets]:
            # the compact result of a target without a reply: no figure at all, no error
            assert target == {"address": target["address"], "family": target["family"], "sent": 2, "received": 0,
                              "loss": 1.0}
        assert facts["duration_seconds"] <= (args["count"] - 1) * args["interval"] + args["timeout"] + 1
    finally:
        for command, rule in ECHO_REQUEST_OUT.items():
            dropping_lab.run(prober, [command, "-D", "OUTPUT", *rule], check=False)
    assert ruleset(dropping_lab, prober) == before


def test_allow_rules_in_place_bring_loss_to_zero(dropping_lab, run_ansible):
    before = dict((node.name, ruleset(dropping_lab, node)) for node in dropping_lab.nodes)
    allow = ["all", "-m", "nodelatency.monitor.nlm_icmp_allow", "-a", json.dumps({"interfaces": ["antrea-gw0"]})]
    try:
        process = run_ansible(allow, dropping_lab.inventory_path)
        assert process.returncode == 0, process.stdout + process.stderr
        results, process = adhoc(run_ansible, dropping_lab)
        assert process.returncode == 0, process.stdout + process.stderr
        for result in results.values():
            targets = [t for targets in targets_by_peer(latency(result)).values() for t in targets]
            assert sorted(t["family"] for t in targets) == ["ipv4", "ipv4", "ipv6", "ipv6"]
            assert all((t["received"], t["loss"]) == (3, 0.0) for t in targets), targets
    finally:
        allow[-1] = json.dumps({"interfaces": ["antrea-gw0"], "state": "absent"})
        removed = run_ansible(allow, dropping_lab.inventory_path)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert dict((node.name, ruleset(dropping_lab, node)) for node in dropping_lab.nodes) == before


@pytest.fixture(scope="module")
def rejecting_lab(module_lab_factory):
    return module_lab_factory(nodes=2, firewall="reject-tail", mode="encap")


def test_local_reject_is_a_send_error_per_target(rejecting_lab, run_ansible, monkeypatch):
    monkeypatch.setenv("ANSIBLE_CALLBACK_RESULT_FORMAT", "json")
    results, process = adhoc(run_ansible, rejecting_lab, args={"count": 1, "timeout": 0.5}, limit="n1")
    assert process.returncode == 0, process.stdout + process.stderr
    for target in targets_by_peer(latency(results["n1"]))["n2"]:
        assert (target["received"], target["loss"]) == (0, 1.0)
        assert target["error"] == "send failed: Operation not permitted"


@pytest.mark.parametrize("privileged", [True, False], ids=["raw", "datagram"])
def test_icmp_error_from_the_peer_names_it_and_ends_the_wait(rejecting_lab, tmp_path, privileged):
    prober, peer = rejecting_lab.node("n1"), rejecting_lab.node("n2")
    before = ruleset(rejecting_lab, prober)
    try:
        # n1's requests may leave; n2's INPUT rejects them with an ICMP error.
        for command, rule in ECHO_REQUEST_OUT.items():
            rejecting_lab.run(prober, [command, "-I", "OUTPUT", "1", *rule])
        timeout = 30.0
        result = run_module_in(prober, {"targets": [{"name": "n2", "address": [peer.gateway_ipv4, peer.gateway_ipv6]}],
                                        "count": 1, "timeout": timeout, "privileged": privileged}, tmp_path)
        latency = result["ansible_facts"]["nlm_latency"]
        assert latency["settings"]["privileged"] is privileged
        for target, address in zip(latency["peers"][0]["targets"], (peer.gateway_ipv4, peer.gateway_ipv6)):
            assert (target["sent"], target["received"], target["loss"]) == (1, 0, 1.0)
            assert target["error"].startswith("destination unreachable (")
            assert "administratively prohibited) from %s" % address in target["error"]
        # The error answered the request: nobody waited for the timeout.
        assert latency["duration_seconds"] < timeout
    finally:
        for command, rule in ECHO_REQUEST_OUT.items():
            rejecting_lab.run(prober, [command, "-D", "OUTPUT", *rule], check=False)
    assert ruleset(rejecting_lab, prober) == before
