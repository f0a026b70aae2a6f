"""What every lab node looks like after the scenario's converge (and side effect)."""

import os
import pathlib
import re

import yaml

SCENARIO = os.environ["MOLECULE_SCENARIO_NAME"]
MODE = os.environ["NLM_LAB_MODE"]
FIREWALL = os.environ["NLM_LAB_FIREWALL"]
LAB_DIR = pathlib.Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / ".lab" / f"molecule-{SCENARIO}"
# The toggle scenario switches monitoring on, then off again.
ENABLED = SCENARIO != "toggle"
COMMENT = "nodelatency.monitor"
INTERFACES_BY_MODE = {
    "encap": {"antrea-gw0"},
    "noEncap": {"eth0"},
    "networkPolicyOnly": {"eth0"},
    "hybrid": {"antrea-gw0", "eth0"},
}
# A native nftables node keeps both families in one inet table; iptables
# nodes have a ruleset per family.
if FIREWALL == "nftables":
    RULESET_COMMANDS = {"inet": "nft list ruleset"}
    ACCEPT_RULES_PER_INTERFACE = {"inet": 8}
    INTERFACE_MATCH = re.compile(r'\b[io]ifname "([^"]+)"')
else:
    RULESET_COMMANDS = {"ipv4": "iptables-save", "ipv6": "ip6tables-save"}
    ACCEPT_RULES_PER_INTERFACE = {"ipv4": 4, "ipv6": 4}
    INTERFACE_MATCH = re.compile(r" -[io] (\S+) ")
SEPARATOR = "=====nlm-separator====="
COUNTERS = re.compile(r"\[\d+:\d+\]")
_STATE = {}


def lab_hosts():
    inventory = yaml.safe_load((LAB_DIR / "inventory.yml").read_text())
    return inventory["all"]["children"]["nlm_nodes"]["hosts"]


def comparable(ruleset):
    """The ruleset without its timestamped comments and packet counters."""
    return [COUNTERS.sub("[0:0]", line) for line in ruleset.splitlines() if line.strip() and not line.startswith("#")]


def owned(lines):
    return [line for line in lines if COMMENT in line or line.startswith(("-A NLM-", ":NLM-"))]


def accept_rules(lines):
    return [line for line in owned(lines) if line.endswith("-j ACCEPT") or " accept comment " in line]


def node_state(host):
    """The rulesets and which peers answer ping, read in one command.

    Every command through the ansible backend costs a whole ansible run, so the
    node is asked once and the answers are kept for the other tests.
    """
    name = host.backend.get_hostname()
    if name not in _STATE:
        address_kind = "transport" if MODE == "networkPolicyOnly" else "gateway"
        targets = [(peer, peer_vars[f"nlm_{address_kind}_{family}"])
                   for peer, peer_vars in lab_hosts().items() if peer != name
                   for family in ("ipv4", "ipv6")]
        pings = [f"ping -c 1 -W 1 {address} >/dev/null && echo ANSWERED {address} || echo SILENT {address}"
                 for _peer, address in targets]
        output = host.check_output(f"; echo {SEPARATOR}; ".join([*RULESET_COMMANDS.values(), "; ".join(pings)]))
        *rulesets, ping_lines = output.split(SEPARATOR)
        answered = {line.split()[1]: line.startswith("ANSWERED") for line in ping_lines.split("\n") if line.strip()}
        _STATE[name] = {
            "rulesets": {kind: comparable(ruleset) for kind, ruleset in zip(RULESET_COMMANDS, rulesets)},
            "answered": {(peer, address): answered[address] for peer, address in targets},
        }
    return _STATE[name]


def original(host, kind):
    name = host.backend.get_hostname()
    command = RULESET_COMMANDS[kind].replace(" ", "-")
    return comparable((LAB_DIR / f"original-{name}-{command}").read_text())


def test_allow_rules_match_exactly_the_interfaces_of_the_traffic_mode(host):
    for kind, ruleset in node_state(host)["rulesets"].items():
        rules = accept_rules(ruleset)
        if not ENABLED:
            assert rules == []
            continue
        assert len(rules) == ACCEPT_RULES_PER_INTERFACE[kind] * len(INTERFACES_BY_MODE[MODE])
        matched = set()
        for rule in rules:
            interface = INTERFACE_MATCH.search(rule)
            assert interface, f"rule without an interface match: {rule}"
            matched.add(interface.group(1))
        assert matched == INTERFACES_BY_MODE[MODE]


def test_the_rest_of_the_ruleset_is_unchanged(host):
    for kind, ruleset in node_state(host)["rulesets"].items():
        if ENABLED:
            ruleset = [line for line in ruleset if line not in owned(ruleset)]
        assert ruleset == original(host, kind)


def test_peers_answer_ping_exactly_when_monitoring_is_on(host):
    for (peer, address), answered in node_state(host)["answered"].items():
        assert answered == ENABLED, f"{host.backend.get_hostname()} -> {peer} {address}"
