"""Rules: one nlm_icmp_allow task beside the same 8 rules as 8 ansible.builtin.iptables tasks.

Per iptables backend (nft, legacy) a 1-node lab with its hardened firewall plus 0 or
10,000 unrelated rules per IP family (iptables-restore --noflush); the ruleset of the
measurement is restored before every first run. Both playbooks run against the node
through the lab inventory (netns connection): a first run that adds the rules, then an
idempotent rerun. Each repeat runs ours and theirs back to back, in alternating order,
with each number of foreign rules, so that all of them see the same machine load.
nlm_icmp_allow uses chain_mode direct, so that both playbooks end with the same 8 rules
at the top of INPUT/OUTPUT; the benchmark checks that they do. A third lab (iptables-nft)
spreads the foreign rules a third each over iptables-legacy, iptables-nft and a native
nftables table: every flavour is read on every run, and a host that has them all must
not cost more.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from statistics import median

import yaml

from benchmarks import harness

BACKENDS = ("iptables-nft", "iptables-legacy")
# The smoke run only checks that every row fills, and the spread lab runs the same code as
# the plain backends and more: it is the one it runs.
SMOKE_BACKENDS = ()
FOREIGN_RULES = (0, 10000)
# one size: the growth rows then compare it with itself, which is enough to fill them
SMOKE_FOREIGN_RULES = (100,)
# Spread: the foreign rules a third each in iptables-legacy, iptables-nft and a native
# nftables table, on a lab of its own (legacy tables cannot be removed once there).
SPREAD_BACKEND = "iptables-nft"
CUSTOM_CHAINS = 20
INTERFACE = "antrea-gw0"
TAG = "nodelatency.monitor"
OURS = "nlm_icmp_allow"
THEIRS = "builtin.iptables"
PHASES = ("first run", "rerun")
SPEED_GOAL = 0.5
# "Flat": 10,000 foreign rules may cost ours at most a fifth more than none.
FLAT_GOAL = 1.2
SAVE_COMMANDS = {"ipv4": "iptables-save", "ipv6": "ip6tables-save"}
RESTORE_COMMANDS = {"ipv4": "iptables-restore", "ipv6": "ip6tables-restore"}
# (ip_version, chain, icmp_type): the 4 rules per family that nlm_icmp_allow ensures by default.
RULES = [(family, chain, icmp_type) for family in ("ipv4", "ipv6") for chain in ("INPUT", "OUTPUT")
         for icmp_type in ("echo-request", "echo-reply")]


def playbooks(directory: Path) -> dict[str, Path]:
    """The two playbooks, written into directory: {tool: path}."""
    ours_task = {"name": "Allow ICMP echo on %s, IPv4 and IPv6, in and out" % INTERFACE,
                 "nodelatency.monitor.nlm_icmp_allow": {"interfaces": [INTERFACE], "chain_mode": "direct"}}
    theirs_tasks = []
    for family, chain, icmp_type in RULES:
        rule = {"ip_version": family, "chain": chain, "protocol": "icmp" if family == "ipv4" else "ipv6-icmp",
                "icmp_type": icmp_type, "comment": TAG, "jump": "ACCEPT",
                # nlm_icmp_allow inserts at the top by default: the same place.
                "action": "insert"}
        rule["in_interface" if chain == "INPUT" else "out_interface"] = INTERFACE
        theirs_tasks.append({"name": "%s %s %s" % (family, chain, icmp_type), "ansible.builtin.iptables": rule})
    paths = {}
    for tool, tasks in ((OURS, [ours_task]), (THEIRS, theirs_tasks)):
        play = [{"name": "ICMP echo rules with %s" % tool, "hosts": "all", "gather_facts": False, "tasks": tasks}]
        paths[tool] = directory / ("%s.yml" % tool.replace(".", "_"))
        paths[tool].write_text("---\n" + yaml.safe_dump(play, sort_keys=False))
    return paths


def foreign_rules(family: str, count: int) -> str:
    """iptables-restore --noflush text of count rules unrelated to ICMP echo.

    Two fifths in INPUT, two fifths in OUTPUT (with comments), one fifth in chains of
    their own, all TCP/UDP by address and port in 198.18.0.0/15 and 2001:db8::/32.
    """
    chains = ["BENCH-%02d" % number for number in range(CUSTOM_CHAINS)]
    lines = ["*filter"] + [":%s - [0:0]" % chain for chain in chains]
    for number in range(count):
        if family == "ipv4":
            address = "198.18.%d.%d/32" % (128 + number // 250 % 64, 1 + number % 250)
        else:
            address = "2001:db8:ff::%x/128" % (number + 1)
        port = 1024 + number % 60000
        kind = number % 5
        if kind < 2:
            lines.append("-A INPUT -s %s -p tcp -m tcp --dport %d -j ACCEPT" % (address, port))
        elif kind < 4:
            lines.append('-A OUTPUT -d %s -p udp -m udp --dport %d -m comment --comment "bench %d" -j ACCEPT'
                         % (address, port, number))
        else:
            lines.append("-A %s -s %s -p tcp -m tcp --dport %d -j DROP" % (chains[number % CUSTOM_CHAINS], address, port))
    return "\n".join(lines + ["COMMIT"]) + "\n"


def seed(rules_lab, node, count: int) -> dict[str, str]:
    """The lab's firewall plus count foreign rules per family, as saved rulesets for restore()."""
    rules_lab.load_firewall(node)
    baseline = {}
    for family in SAVE_COMMANDS:
        rules_lab.run(node, [RESTORE_COMMANDS[family], "--noflush"], input=foreign_rules(family, count))
        baseline[family] = rules_lab.run(node, [SAVE_COMMANDS[family]]).stdout
    return baseline


def native_foreign_rules(count: int) -> str:
    """nft -f text that (re)creates a native table with count rules unrelated to ICMP
    echo, IPv4 and IPv6, in an input base chain that accepts and a chain of its own."""
    lines = ["table inet bench {}", "delete table inet bench", "table inet bench {", "\tchain input {",
             "\t\ttype filter hook input priority 10; policy accept;", "\t\tmeta l4proto tcp jump ports"]
    chain = ["\tchain ports {"]
    for number in range(count):
        port = 1024 + number % 60000
        if number % 2:
            rule = "ip6 saddr 2001:db8:fe::%x tcp dport %d accept" % (number + 1, port)
        else:
            rule = "ip saddr 198.18.%d.%d udp dport %d drop" % (192 + number // 250 % 64, 1 + number % 250, port)
        (chain if number % 5 == 4 else lines).append("\t\t" + rule)
    return "\n".join(lines + ["\t}"] + chain + ["\t}", "}"]) + "\n"


def seed_spread(rules_lab, node, count: int) -> dict[str, str]:
    """The lab's firewall (iptables-nft) plus count foreign rules per family spread over
    iptables-legacy, iptables-nft and a native table; the iptables-nft rulesets are
    returned for restore(), the only flavour a run changes."""
    share = count // 3
    for family in SAVE_COMMANDS:
        legacy = "%s-legacy-restore" % ("iptables" if family == "ipv4" else "ip6tables")
        rules_lab.run(node, [legacy], input=foreign_rules(family, share))
    rules_lab.run(node, ["nft", "-f", "-"], input=native_foreign_rules(2 * (count - 2 * share)))
    return seed(rules_lab, node, share)


def restore(rules_lab, node, baseline: dict[str, str]) -> None:
    for family, saved in baseline.items():
        rules_lab.run(node, [RESTORE_COMMANDS[family]], input=saved)


def owned_rules(rules_lab, node) -> list[str]:
    """The rules carrying the tag, both families, sorted: what the playbook left behind."""
    return sorted(line for family, command in SAVE_COMMANDS.items()
                  for line in rules_lab.run(node, [command]).stdout.splitlines()
                  if line.startswith("-A ") and TAG in line)


def measure_backend(backend: str, foreign_counts, repeats: int, books: dict[str, Path],
                    spread: bool = False) -> tuple[dict, dict]:
    """On one backend: ({(foreign, tool, phase): {"seconds": [...], "changed": [...]}}, {(foreign, tool): [rules left, ...]})."""
    timings, rules_left = {}, {}
    with harness.lab("bs" if spread else "br", nodes=1, firewall=backend) as rules_lab:
        node = rules_lab.nodes[0]
        if not spread:
            baselines = dict((foreign, seed(rules_lab, node, foreign)) for foreign in foreign_counts)
        for repeat in range(repeats):
            harness.progress("rules: %s%s, repeat %d of %d"
                             % (backend, ", spread" if spread else "", repeat + 1, repeats))
            # Every foreign-rule count and both tools in each repeat, so that the load of
            # the moment weighs on all of them and the 10,000/0 ratios are side by side too.
            for foreign in foreign_counts:
                if spread:
                    # the three flavours are seeded anew for each count: a restore covers one
                    baselines = {foreign: seed_spread(rules_lab, node, foreign)}
                for tool in ((OURS, THEIRS) if repeat % 2 == 0 else (THEIRS, OURS)):
                    restore(rules_lab, node, baselines[foreign])
                    for phase in PHASES:
                        run = harness.run_timed(harness.ansible_argv("ansible-playbook", rules_lab.inventory_path,
                                                                     str(books[tool])))
                        timing = timings.setdefault((foreign, tool, phase), {"seconds": [], "changed": []})
                        timing["seconds"].append(run.wall_seconds)
                        timing["changed"].append(harness.recap(run.stdout)[node.name]["changed"])
                    rules_left.setdefault((foreign, tool), []).append(owned_rules(rules_lab, node))
    return timings, rules_left


def rows(repeats: int, smoke: bool) -> list[harness.Row]:
    foreign_counts = SMOKE_FOREIGN_RULES if smoke else FOREIGN_RULES
    peer_name = "8 x %s tasks" % THEIRS
    result = []
    with tempfile.TemporaryDirectory(prefix="nlm-bench-rules-") as directory:
        books = playbooks(Path(directory))
        runs = [(backend, False) for backend in (SMOKE_BACKENDS if smoke else BACKENDS)] + [(SPREAD_BACKEND, True)]
        for backend, spread in runs:
            timings, rules_left = measure_backend(backend, foreign_counts, repeats, books, spread)
            short = backend.split("-", 1)[1] + (" spread over legacy, nft and native" if spread else "")
            medians = dict((key, median(timing["seconds"])) for key, timing in timings.items())
            for foreign in foreign_counts:
                for phase in PHASES:
                    ours, theirs = medians[(foreign, OURS, phase)], medians[(foreign, THEIRS, phase)]
                    result.append(harness.Row(
                        benchmark="rules %s, %s foreign, %s" % (short, format(foreign, ","), phase),
                        ours=ours, peer=theirs, unit="s", peer_name=peer_name,
                        goal="ratio <= %g" % SPEED_GOAL, met=ours / theirs <= SPEED_GOAL,
                        details={"backend": backend, "foreign_rules_per_family": foreign, "chain_mode": "direct",
                                 "spread_over_flavours": spread,
                                 "ours_seconds": timings[(foreign, OURS, phase)]["seconds"],
                                 "theirs_seconds": timings[(foreign, THEIRS, phase)]["seconds"],
                                 "ours_changed_tasks": timings[(foreign, OURS, phase)]["changed"],
                                 "theirs_changed_tasks": timings[(foreign, THEIRS, phase)]["changed"],
                                 # after every repeat of both, the same rules were there
                                 "same_rules_afterwards": len(set(map(tuple, rules_left[(foreign, OURS)]
                                                                      + rules_left[(foreign, THEIRS)]))) == 1,
                                 "rules_afterwards": rules_left[(foreign, OURS)][0]}))
            low, high = foreign_counts[0], foreign_counts[-1]
            for phase in PHASES:
                ours_growth = medians[(high, OURS, phase)] / medians[(low, OURS, phase)]
                theirs_growth = medians[(high, THEIRS, phase)] / medians[(low, THEIRS, phase)]
                result.append(harness.Row(
                    benchmark="rules %s, %s, time with %s / %d foreign" % (short, phase, format(high, ","), low),
                    ours=ours_growth, peer=theirs_growth, unit="x", peer_name=peer_name,
                    goal="ours <= %g (flat)" % FLAT_GOAL, met=ours_growth <= FLAT_GOAL,
                    details={"backend": backend, "foreign_rules_per_family": [low, high]}))
    return result
