"""nlm_icmp_allow and nlm_icmp_allow_info on the lab: real iptables, real ICMP.

One 5-node lab per firewall (iptables-nft, iptables-legacy). Every run
goes through Ansible and the netns connection. n1/n2 (and n5) use the dedicated chain
mode, n3/n4 the direct one, so one Ansible run covers both modes; n1 and n3 carry
1,000 seeded foreign rules per family. Pings go between the nodes' antrea-gw0
addresses, IPv4 and IPv6, in both directions.
"""

from __future__ import annotations

import json
import re
import shlex
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

pytestmark = pytest.mark.lab

TAG = "nodelatency.monitor"
# reject-tail's end-to-end proof is the path corpus's; the tail test below adds the tail by hand
FIREWALLS = ["iptables-nft", "iptables-legacy"]
CHAIN_MODE = {"n1": "dedicated", "n2": "dedicated", "n3": "direct", "n4": "direct", "n5": "dedicated"}
# a dedicated-mode node and a direct-mode node probe each other: both modes at once
PAIRS = [("n1", "n3")]
PAIR_NODES = "n1:n3"
SEEDED = ("n1", "n3")
FAMILIES = {"ipv4": "iptables", "ipv6": "ip6tables"}
# protocol, ICMP match, echo-request type, echo-reply type
ICMP = {"ipv4": ("icmp", "-m icmp --icmp-type", 8, 0), "ipv6": ("ipv6-icmp", "-m icmp6 --icmpv6-type", 128, 129)}
ALLOW = {"interfaces": ["antrea-gw0"], "chain_mode": "{{ nlm_test_chain_mode }}"}
RACERS = ["racer%02d" % number for number in range(1, 21)]


# --- the lab and its inventory -------------------------------------------------------------

def seed_rules(family):
    """1,000 foreign rules: INPUT, OUTPUT and ten custom chains, plus look-alikes of the
    owned rules on another interface, with and without a comment."""
    v4 = family == "ipv4"
    proto, match, request, reply = ICMP[family]
    lines = ["*filter"] + [":SEED-%d - [0:0]" % chain for chain in range(10)]
    for chain in range(10):
        lines += ["-A SEED-%d -p tcp -m tcp --dport %d -j ACCEPT" % (chain, 20000 + chain * 100 + rule)
                  for rule in range(40)]
    for number in range(295):
        source = "198.18.100.%d/32" % (number % 250 + 1) if v4 else "2001:db8:100::%x/128" % (number + 1)
        lines.append("-A INPUT -s %s -p tcp -m tcp --dport %d -j ACCEPT" % (source, 1000 + number))
        if number % 30 == 0:
            lines.append("-A INPUT -p tcp -m tcp --dport %d -j SEED-%d" % (8000 + number // 30, number // 30))
        lines.append("-A OUTPUT -p udp -m udp --dport %d -m comment --comment \"seed %d\" -j ACCEPT"
                     % (3000 + number, number))
    lines += [
        "-A INPUT -i antrea-gw9 -p %s %s %d -j ACCEPT" % (proto, match, request),
        "-A INPUT -i antrea-gw9 -p %s %s %d -m comment --comment \"someone else\" -j ACCEPT" % (proto, match, reply),
        "-A OUTPUT -o antrea-gw9 -p %s %s %d -m comment --comment \"not %s\" -j DROP" % (proto, match, request, TAG),
    ]
    assert len([line for line in lines if line.startswith("-A")]) == 1000 + 3
    return "\n".join(lines + ["COMMIT"]) + "\n"


@pytest.fixture(scope="module", params=FIREWALLS)
def lab(request, module_lab_factory):
    lab = module_lab_factory(nodes=5, firewall=request.param)
    try:
        for name in SEEDED:
            for family, command in FAMILIES.items():
                lab.run(name, [command + "-restore", "--noflush"], input=seed_rules(family))
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def inventory(lab, tmp_path_factory):
    """The lab's inventory plus the chain mode per node, twenty aliases of n5 that race,
    and n2 as an unprivileged user and without the ip6tables commands."""
    directory = tmp_path_factory.mktemp("inventory")
    data = yaml.safe_load(lab.inventory_path.read_text())
    hosts = data["all"]["children"]["nlm_nodes"]["hosts"]
    for name, host in hosts.items():
        host["nlm_test_chain_mode"] = CHAIN_MODE[name]
    python = data["all"]["children"]["nlm_nodes"]["vars"]["ansible_python_interpreter"]
    unprivileged = directory / "python-as-nobody"
    unprivileged.write_text('#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups %s "$@"\n' % python)
    # A private mount namespace whose /usr/sbin (and so /sbin) lacks every ip6tables* command.
    without_ip6tables = directory / "python-without-ip6tables"
    real_sbin = directory / "real-sbin"
    real_sbin.mkdir()
    without_ip6tables.write_text(
        "#!/bin/sh\n"
        "exec unshare --mount --propagation private sh -eu -c '\n"
        "  mount --bind /usr/sbin \"$1\"\n"
        "  mount -t tmpfs -o mode=755 nlm-test /usr/sbin\n"
        "  for path in \"$1\"/*; do\n"
        "    case \"${path##*/}\" in ip6tables*) ;; *) ln -s \"$path\" \"/usr/sbin/${path##*/}\" ;; esac\n"
        "  done\n"
        "  shift; exec \"$@\"' sh %s %s \"$@\"\n" % (real_sbin, python))
    for wrapper in (unprivileged, without_ip6tables):
        wrapper.chmod(0o755)
    n2, n5 = hosts["n2"]["nlm_netns"], hosts["n5"]["nlm_netns"]
    data["all"]["children"].update({
        "racers": {"hosts": {name: {"nlm_netns": n5} for name in RACERS}},
        "unprivileged": {"hosts": {"n2_nobody": {"nlm_netns": n2, "ansible_python_interpreter": str(unprivileged)}}},
        "without_ip6tables": {"hosts": {"n2_no_ip6tables": {
            "nlm_netns": n2, "ansible_python_interpreter": str(without_ip6tables)}}},
    })
    for group in ("racers", "unprivileged", "without_ip6tables"):
        data["all"]["children"][group]["vars"] = {"ansible_connection": "nodelatency.monitor.netns",
                                                  "ansible_python_interpreter": python}
    path = directory / "inventory.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module", autouse=True)
def json_results():
    """Results as JSON on stdout (parsed below), modules piped to the interpreter
    (so an unprivileged interpreter needs no access to root's temporary files)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANSIBLE_CALLBACK_RESULT_FORMAT", "json")
        patch.setenv("ANSIBLE_PIPELINING", "1")
        yield


_RESULT_START = re.compile(r"^(?:(?P<host>\S+) \| (?P<status>[A-Z]+)!?(?: \| rc=-?\d+)? => |"
                           r"(?P<task_status>ok|changed|fatal|failed): \[(?P<task_host>[^\]]+)\](?:: FAILED!)? => )",
                           re.M)


def parse_results(stdout):
    """[(host, result)] in the order Ansible printed them; ``failed`` (and in playbooks
    ``changed``) are set from the status Ansible printed, since its JSON may leave them out."""
    decoder = json.JSONDecoder()
    results = []
    for match in _RESULT_START.finditer(stdout):
        result, _end = decoder.raw_decode(stdout, match.end())
        status = (match.group("status") or match.group("task_status")).lower()
        result["failed"] = status in ("failed", "fatal", "unreachable")
        if status in ("ok", "changed"):
            result["changed"] = status == "changed"
        results.append((match.group("host") or match.group("task_host"), result))
    return results


@pytest.fixture(scope="module")
def ansible(run_ansible, inventory):
    """ansible(pattern, module, args, check=False, diff=False, forks=5) -> {host: result}:
    one ad-hoc run, which must not fail on any host."""
    def run(pattern, module, args, check=False, diff=False, forks=5):
        argv = [pattern, "-m", "nodelatency.monitor." + module, "-a", json.dumps(args), "--forks", str(forks)]
        argv += ["--check"] if check else []
        argv += ["--diff"] if diff else []
        completed = run_ansible(argv, inventory)
        results = dict(parse_results(completed.stdout))
        assert results, completed.stdout + completed.stderr
        assert not [host for host, result in results.items() if result["failed"]], completed.stdout
        return results
    return run


@pytest.fixture(scope="module")
def playbook(run_ansible, inventory, tmp_path_factory):
    """playbook(pattern, steps) -> [{host: result} per step]: several module runs in one
    ansible-playbook run (cheaper than one ad-hoc run each). A step is
    ``(module, args)`` or ``(module, args, {"check_mode": true, "diff": true})``."""
    directory = tmp_path_factory.mktemp("playbooks")

    def run(pattern, steps):
        tasks = []
        for number, step in enumerate(steps):
            module, args = step[:2]
            task = {"name": "step %d" % number, "nodelatency.monitor." + module: args}
            task.update(step[2] if len(step) > 2 else {})
            tasks.append(task)
        path = directory / ("play-%d.yml" % len(list(directory.iterdir())))
        path.write_text(yaml.safe_dump([{"name": "Steps", "hosts": pattern, "gather_facts": False,
                                         "tasks": tasks}], sort_keys=False))
        completed = run_ansible(["-v", str(path)], inventory, program="ansible-playbook")
        chunks = re.split(r"^TASK \[step \d+\] \**$", completed.stdout, flags=re.M)[1:]
        assert len(chunks) == len(steps), completed.stdout + completed.stderr
        outcomes = [dict(parse_results(chunk)) for chunk in chunks]
        assert not [host for outcome in outcomes for host, result in outcome.items() if result["failed"]], \
            completed.stdout
        return outcomes
    return run


# --- looking at the nodes --------------------------------------------------------------------

def saved(lab, node):
    """{family: the node's whole ruleset as iptables-save prints it, minus comments and counters}."""
    texts = {}
    for family, command in FAMILIES.items():
        output = lab.run(node, [command + "-save"]).stdout
        texts[family] = "".join(re.sub(r"\[\d+:\d+\]", "[0:0]", line) + "\n"
                                for line in output.splitlines() if not line.startswith("#"))
    return texts


def is_owned_line(line):
    return TAG in line.replace("not " + TAG, "") or "NLM-" in line


def foreign(texts):
    return {family: [line for line in text.splitlines() if not is_owned_line(line)]
            for family, text in texts.items()}


def owned(texts):
    return {family: [line for line in text.splitlines() if is_owned_line(line)] for family, text in texts.items()}


def pings(lab, probes):
    """{(source, destination, family): reached?} for probes between nodes' gateway addresses."""
    def probe(item):
        source, destination, family = item
        node = lab.node(destination)
        address = node.gateway_ipv4 if family == "ipv4" else node.gateway_ipv6
        return item, lab.ping(source, address, timeout=1.0)
    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(pool.map(probe, probes))


def both_ways(pairs):
    return [(a, b, family) for first, second in pairs for a, b in ((first, second), (second, first))
            for family in FAMILIES]


def hosts_changed(results, hosts):
    return {host: results[host].get("changed") for host in hosts}


# --- the tests ---------------------------------------------------------------------------------

def test_present_and_absent_on_both_chain_modes(lab, ansible, playbook):
    nodes = ["n1", "n3"]
    original = {node: saved(lab, node) for node in nodes}
    assert not any(pings(lab, both_ways(PAIRS)).values())

    info, check = playbook(PAIR_NODES, [
        ("nlm_icmp_allow_info", {"interfaces": ["antrea-gw0"]}),
        ("nlm_icmp_allow", ALLOW, {"check_mode": True, "diff": True}),
    ])
    for node in nodes:
        report = info[node]["icmp_allow"]
        assert report["all_present"] is False and report["all_effective"] is False, report
        for family in FAMILIES:
            assert [(rule["present"], rule["effective"]) for rule in report[family]["rules"]] == [(False, False)] * 4
            assert all(rule["shadowed_by"] for rule in report[family]["rules"])
    assert hosts_changed(check, nodes) == dict.fromkeys(nodes, True)
    assert {node: saved(lab, node) for node in nodes} == original
    assert not any(pings(lab, both_ways(PAIRS)).values())

    applied = ansible(PAIR_NODES, "nlm_icmp_allow", ALLOW)
    assert hosts_changed(applied, nodes) == dict.fromkeys(nodes, True), applied
    assert all(pings(lab, both_ways(PAIRS)).values())
    for node in nodes:
        now = saved(lab, node)
        assert foreign(now) == foreign(original[node])
        for family in FAMILIES:
            # what check mode predicted is what the run left
            assert applied[node]["rules"][family]["present"] == check[node]["rules"][family]["present"]
            owned_now = owned(now)[family]
            if CHAIN_MODE[node] == "dedicated":
                assert len(owned_now) == 2 + 2 + 4, owned_now       # chains, jumps, rules
                assert sum(line.startswith("-A NLM-") for line in owned_now) == 4
            else:
                assert len(owned_now) == 4 and all(line.startswith(("-A INPUT -i antrea-gw0",
                                                                    "-A OUTPUT -o antrea-gw0"))
                                                   for line in owned_now)
            assert len(set(owned_now)) == len(owned_now)

    again, check_again, info = playbook(PAIR_NODES, [
        ("nlm_icmp_allow", ALLOW),
        ("nlm_icmp_allow", ALLOW, {"check_mode": True}),
        ("nlm_icmp_allow_info", {"interfaces": ["antrea-gw0"]}),
    ])
    assert hosts_changed(again, nodes) == dict.fromkeys(nodes, False)
    assert hosts_changed(check_again, nodes) == dict.fromkeys(nodes, False)
    for node in nodes:
        report = info[node]["icmp_allow"]
        assert report["all_present"] is True and report["all_effective"] is True, report
        for family in FAMILIES:
            expected_chains = (["NLM-INPUT", "NLM-INPUT", "NLM-OUTPUT", "NLM-OUTPUT"]
                               if CHAIN_MODE[node] == "dedicated" else ["INPUT", "INPUT", "OUTPUT", "OUTPUT"])
            assert [rule["chain"] for rule in report[family]["rules"]] == expected_chains
            assert [rule["copies"] for rule in report[family]["rules"]] == [1] * 4

    removed, removed_again = playbook(PAIR_NODES, [
        ("nlm_icmp_allow", dict(ALLOW, state="absent")),
        ("nlm_icmp_allow", dict(ALLOW, state="absent")),
    ])
    assert hosts_changed(removed, nodes) == dict.fromkeys(nodes, True)
    assert hosts_changed(removed_again, nodes) == dict.fromkeys(nodes, False)
    assert not any(pings(lab, both_ways(PAIRS)).values())
    assert {node: saved(lab, node) for node in nodes} == original


TAIL = {"ipv4": "-p icmp -j REJECT --reject-with icmp-host-prohibited",
        "ipv6": "-p ipv6-icmp -j REJECT --reject-with icmp6-adm-prohibited"}


@pytest.mark.parametrize("tail", [False, True], ids=["drop-policy", "reject-tail"])
@pytest.mark.parametrize("lab", ["iptables-nft"], indirect=True)
def test_append_lands_in_front_of_a_reject_tail(lab, playbook, tail):
    """placement append puts the rules (direct, n3) or the jump (dedicated, n1) at the
    end of the chain under a DROP policy, and just in front of a closing ICMP REJECT
    (as reject-tail's), where they take effect; enforce_order then has nothing to move."""
    nodes = ["n1", "n3"]
    if tail:
        for node in nodes:
            for family, command in FAMILIES.items():
                for chain in ("INPUT", "OUTPUT"):
                    lab.run(node, [command, "-w", "-A", chain, *shlex.split(TAIL[family])])
    try:
        _append_in_front(lab, playbook, nodes, tail)
    finally:
        if tail:
            for node in nodes:
                for family, command in FAMILIES.items():
                    for chain in ("INPUT", "OUTPUT"):
                        lab.run(node, [command, "-w", "-D", chain, *shlex.split(TAIL[family])], check=False)


def _append_in_front(lab, playbook, nodes, tail):
    original = {node: saved(lab, node) for node in nodes}
    appended, info = playbook("n1:n3", [
        ("nlm_icmp_allow", dict(ALLOW, placement="append")),
        ("nlm_icmp_allow_info", {"interfaces": ["antrea-gw0"]}),
    ])
    assert hosts_changed(appended, nodes) == dict.fromkeys(nodes, True)
    for node in nodes:
        assert info[node]["icmp_allow"]["all_present"] is True
        assert info[node]["icmp_allow"]["all_effective"] is True
        for family in FAMILIES:
            for chain in ("INPUT", "OUTPUT"):
                rules = [line for line in saved(lab, node)[family].splitlines() if line.startswith("-A %s " % chain)]
                ours = [index for index, line in enumerate(rules) if TAG in line and "antrea-gw9" not in line]
                assert ours, (node, family, chain)
                if tail:
                    assert "-j REJECT" in rules[ours[-1] + 1], (node, family, rules)
                else:
                    assert ours[-1] == len(rules) - 1, (node, family, rules)
    assert all(pings(lab, both_ways(PAIRS)).values())

    (ordered,) = playbook("n1:n3", [("nlm_icmp_allow", dict(ALLOW, placement="append", enforce_order=True))])
    assert hosts_changed(ordered, nodes) == dict.fromkeys(nodes, False)
    for node in nodes:
        assert foreign(saved(lab, node)) == foreign(original[node])

    playbook("n1:n3", [("nlm_icmp_allow", dict(ALLOW, state="absent"))])
    assert {node: saved(lab, node) for node in nodes} == original


@pytest.mark.parametrize("lab", ["iptables-nft", "iptables-legacy"], indirect=True)
def test_twenty_concurrent_runs_while_another_process_churns(lab, ansible):
    before = saved(lab, "n5")
    churn_rule = ["INPUT", "-p", "tcp", "-m", "tcp", "--dport", "9", "-j", "ACCEPT"]
    stop = threading.Event()
    churned = []

    def churn():
        while not stop.is_set():
            for command in FAMILIES.values():
                lab.run("n5", [command, "-w", "-A", *churn_rule])
                lab.run("n5", [command, "-w", "-D", *churn_rule])
            churned.append(1)

    churner = threading.Thread(target=churn)
    churner.start()
    try:
        results = ansible("racers", "nlm_icmp_allow", {"interfaces": ["antrea-gw0"]}, forks=20)
    finally:
        stop.set()
        churner.join()
    assert sorted(results) == RACERS
    assert [host for host, result in results.items() if result.get("failed")] == []
    assert sum(bool(result["changed"]) for result in results.values()) == 1
    assert churned, "the churn process never completed a round"
    after = saved(lab, "n5")
    assert foreign(after) == foreign(before)
    for family in FAMILIES:
        rules = [line for line in owned(after)[family] if line.startswith("-A NLM-")]
        jumps = [line for line in owned(after)[family] if "-j NLM-" in line]
        assert len(rules) == 4 and len(set(rules)) == 4, rules
        assert len(jumps) == 2 and len(set(jumps)) == 2, jumps


@pytest.mark.parametrize("lab", ["iptables-nft", "iptables-legacy"], indirect=True)
def test_foreign_twins_that_differ_only_by_the_comment_survive(lab, playbook):
    """Deletes go by rule text; some iptables-nft releases compare rules without their
    comments. Untagged twins of the owned rules, earlier in the chains than tagged
    copies (as an operator or another tool might leave them), must survive absent."""
    specs = {family: [("%s %s antrea-gw0 -p %s %s %d" % (chain, side, ICMP[family][0], ICMP[family][1], icmp_type))
                      for chain, side in (("INPUT", "-i"), ("OUTPUT", "-o")) for icmp_type in ICMP[family][2:]]
             for family in FAMILIES}
    for family, command in FAMILIES.items():
        for spec in specs[family]:
            lab.run("n4", [command, "-w", "-I", *shlex.split(spec), "-j", "ACCEPT"])
    try:
        with_twins = saved(lab, "n4")
        for family, command in FAMILIES.items():
            for spec in specs[family]:
                lab.run("n4", [command, "-w", "-A", *shlex.split(spec), "-m", "comment", "--comment", TAG,
                               "-j", "ACCEPT"])
        (absent,) = playbook("n4", [("nlm_icmp_allow", dict(ALLOW, state="absent"))])
        assert absent["n4"]["changed"] is True
        assert saved(lab, "n4") == with_twins
    finally:
        for family, command in FAMILIES.items():
            for spec in specs[family]:
                lab.run("n4", [command, "-w", "-D", *shlex.split(spec), "-j", "ACCEPT"], check=False)


def test_each_owned_rule_is_necessary(lab, ansible):
    """n1..n4 each lose one of the four rules (both families) by hand; only the probe
    direction that rule serves fails between that node and n5, and the next run
    puts the rule back."""
    everyone = "n1:n2:n3:n4:n5"
    ansible(everyone, "nlm_icmp_allow", ALLOW)
    # (node, index of the rule in Antrea's order, probe that must fail: from node or to node)
    cases = [("n1", 0, "to"), ("n2", 1, "from"), ("n3", 2, "from"), ("n4", 3, "to")]
    for node, index, _direction in cases:
        for family, command in FAMILIES.items():
            rules = [line for line in owned(saved(lab, node))[family]
                     if line.startswith(("-A NLM-INPUT", "-A NLM-OUTPUT", "-A INPUT -i", "-A OUTPUT -o"))]
            chain, spec = rules[index].split(" ", 2)[1:]
            lab.run(node, [command, "-w", "-D", chain, *shlex.split(spec)])
    reached = pings(lab, [(a, b, family) for node, _index, _direction in cases
                          for a, b in ((node, "n5"), ("n5", node)) for family in FAMILIES])
    for node, _index, direction in cases:
        for family in FAMILIES:
            assert reached[(node, "n5", family)] is (direction != "from"), (node, family)
            assert reached[("n5", node, family)] is (direction != "to"), (node, family)
    restored = ansible(everyone, "nlm_icmp_allow", ALLOW)
    assert hosts_changed(restored, ["n1", "n2", "n3", "n4", "n5"]) == {
        "n1": True, "n2": True, "n3": True, "n4": True, "n5": False}
    for node, _index, _direction in cases:
        for family in FAMILIES:
            assert len(restored[node]["rules"][family]["added"]) == 1
    assert all(pings(lab, [(a, b, family) for node, _index, _direction in cases
                           for a, b in ((node, "n5"), ("n5", node)) for family in FAMILIES]).values())


BAD_INPUT_PLAYBOOK = """
- name: Bad input on n2
  hosts: n2
  gather_facts: false
  tasks:
    - name: Every invalid interface form at once
      nodelatency.monitor.nlm_icmp_allow:
        interfaces: {bad_interfaces}
      ignore_errors: true
    - name: Unknown backend
      nodelatency.monitor.nlm_icmp_allow:
        interfaces: [antrea-gw0]
        backend: pf
      ignore_errors: true

- name: Not root
  hosts: unprivileged
  gather_facts: false
  tasks:
    - name: Present as nobody
      nodelatency.monitor.nlm_icmp_allow:
        interfaces: [antrea-gw0]
      ignore_errors: true
    - name: Info as nobody
      nodelatency.monitor.nlm_icmp_allow_info:
        interfaces: [antrea-gw0]
      ignore_errors: true

- name: No ip6tables commands
  hosts: without_ip6tables
  gather_facts: false
  tasks:
    - name: Both families
      nodelatency.monitor.nlm_icmp_allow:
        interfaces: [antrea-gw0]
      ignore_errors: true
    - name: IPv4 only is fine (check mode, so nothing changes)
      nodelatency.monitor.nlm_icmp_allow:
        interfaces: [antrea-gw0]
        ip_versions: [ipv4]
      check_mode: true
"""
BAD_INTERFACES = ["", "antrea-gw0-toolong", "a/b", "eth 0", ".", "..", "eth0:1", "+", "antrea+", "eth*"]


@pytest.mark.parametrize("lab", ["iptables-nft", "iptables-legacy"], indirect=True)
def test_bad_input_fails_clearly_and_changes_nothing(lab, run_ansible, inventory, tmp_path):
    before = saved(lab, "n2")
    playbook = tmp_path / "bad-input.yml"
    playbook.write_text(BAD_INPUT_PLAYBOOK.format(bad_interfaces=json.dumps(BAD_INTERFACES)))
    completed = run_ansible(["-v", str(playbook)], inventory, program="ansible-playbook")
    results = parse_results(completed.stdout)
    messages = [result.get("msg", "") for _host, result in results]
    expected = [
        "nlm_icmp_allow: an interface name must be a non-empty string; "
        "interface name 'antrea-gw0-toolong' is 18 characters long; the kernel allows 1 to 15; "
        "interface name 'a/b' contains '/' (whitespace, '/', ':', quotes and backslashes are not allowed); "
        "interface name 'eth 0' contains ' ' (whitespace, '/', ':', quotes and backslashes are not allowed); "
        "interface name '.' is reserved by the kernel; "
        "interface name '..' is reserved by the kernel; "
        "interface name 'eth0:1' contains ':' (whitespace, '/', ':', quotes and backslashes are not allowed); "
        "interface name '+' is a pattern (a trailing '+' or a '*' matches many interfaces, a lone '+' every one): "
        "name each interface exactly; "
        "interface name 'antrea+' is a pattern (a trailing '+' or a '*' matches many interfaces, a lone '+' every "
        "one): name each interface exactly; "
        "interface name 'eth*' is a pattern",
        "value of backend must be one of: auto, firewalld, iptables-legacy, iptables-nft, nftables, got: pf",
        "run the task as root (become: true)",
        "run the task as root (become: true)",
        "ip6tables-%s-save not found: install the iptables package" % (
            "legacy" if lab.firewall == "iptables-legacy" else "nft"),
    ]
    assert len(results) == len(expected) + 1, completed.stdout
    for message, wanted in zip(messages, expected):
        assert wanted in message, (message, wanted)
    assert [result.get("failed", False) for _host, result in results] == [True] * len(expected) + [False]
    assert list(results[-1][1]["rules"]) == ["ipv4"]   # ipv4 alone works
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert saved(lab, "n2") == before
