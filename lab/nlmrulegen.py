"""Random rulesets for the differential test of the path model against the kernel.

``generate(rng, local)`` returns a ruleset (the files of lab/nlmrules.py) in one to
three flavours: iptables-legacy and iptables-nft tables (filter, mangle, raw,
security) and native nftables tables (ip, ip6, inet) with base chains on the four
hooks a probe meets at random priorities, user and regular chains reached through
jumps and gotos, returns, verdict maps, named sets, marks set and matched, conntrack
state, this node's addresses, interface names and wildcards, negations, policies,
drops, rejects and accepts. Everything it writes is something the path model
understands, so its verdicts can be compared with ping's.

Two limits keep the lab's overlay out of the cases whatever is drawn: a rule that
drops, rejects or marks also matches ICMP only (a VXLAN device hands the mark of the
UDP packet that carried a probe on to the probe), and a drop policy is preceded by an
accept of every other protocol. ``local`` gives this node's antrea-gw0 addresses and networks, so that
address matches on its side decide.
"""

from __future__ import annotations

import random

FAMILIES = ("ipv4", "ipv6")
ICMP = {"ipv4": ("icmp", "--icmp-type", "icmp"), "ipv6": ("ipv6-icmp", "--icmpv6-type", "icmp6")}
ICMP_TYPES = {"ipv4": ("8", "0", "3"), "ipv6": ("128", "129", "1")}
NFT_TYPES = {"ipv4": ("echo-request", "echo-reply", "destination-unreachable"),
             "ipv6": ("echo-request", "echo-reply", "destination-unreachable")}
NFT_ICMP = {"ipv4": "icmp", "ipv6": "icmpv6"}
INTERFACES = ("antrea-gw0", "antrea-gw0", "eth0", "lo")
WILDCARDS = {"iptables": ("antrea+", "eth+"), "nft": ("antrea*", "eth*")}
CT_STATES = ("NEW", "ESTABLISHED", "RELATED,ESTABLISHED", "INVALID")
IPTABLES_CHAINS = {
    "filter": {"INPUT": "in", "OUTPUT": "out"},
    "security": {"INPUT": "in", "OUTPUT": "out"},
    "mangle": {"PREROUTING": "in", "INPUT": "in", "OUTPUT": "out", "POSTROUTING": "out"},
    "raw": {"PREROUTING": "in", "OUTPUT": "out"},
}
ALL_BUILTINS = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"), "security": ("INPUT", "FORWARD", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"), "raw": ("PREROUTING", "OUTPUT"),
}
HOOKS = {"prerouting": "in", "input": "in", "output": "out", "postrouting": "out"}
# None of the iptables tables' (-300, -150, 0, 50): base chains at one priority run in an
# order nothing reports, and marks set in one of them are then undecided for the others.
PRIORITIES = (-250, -100, -10, 10, 100, 250)


def _chance(rng, probability):
    return rng.random() < probability


# --- iptables ---------------------------------------------------------------------------------

def _ipt_matches(rng, family, table, direction, local, icmp_required, marks):
    protocol, type_option, module = ICMP[family]
    parts = []
    if icmp_required or _chance(rng, 0.6):
        parts.append("-p %s" % protocol)
        if _chance(rng, 0.6):
            negation = "! " if _chance(rng, 0.2) else ""
            parts.append("-m %s %s%s %s" % (module, negation, type_option, rng.choice(ICMP_TYPES[family])))
    elif _chance(rng, 0.2):
        parts.append("-p tcp")
    if _chance(rng, 0.5):
        name = rng.choice(INTERFACES + WILDCARDS["iptables"])
        parts.append("%s%s %s" % ("! " if _chance(rng, 0.25) else "", "-i" if direction == "in" else "-o", name))
    if table != "raw" and _chance(rng, 0.25):
        parts.append("-m conntrack %s--ctstate %s" % ("! " if _chance(rng, 0.2) else "", rng.choice(CT_STATES)))
    if _chance(rng, 0.15):
        parts.append("%s%s %s" % ("! " if _chance(rng, 0.2) else "", "-d" if direction == "in" else "-s",
                                  rng.choice(local[family])))
    if marks and _chance(rng, 0.15):
        parts.append("-m mark %s--mark 0x1/0x1" % ("! " if _chance(rng, 0.2) else ""))
    return parts


def _ipt_rule(rng, family, table, chain, direction, user_chains, local, marks):
    """One rule spec for ``chain``; ``user_chains`` are those it may jump to."""
    targets = ["ACCEPT"] * 6 + ["DROP"] * 5 + ["RETURN"] * 2 + ["none"]
    if table == "filter":
        targets += ["REJECT"] * 2
    if table == "mangle" and marks:
        targets += ["MARK"] * 2
    if user_chains:
        targets += ["jump"] * 4 + ["goto"]
    target = rng.choice(targets)
    parts = _ipt_matches(rng, family, table, direction, local, icmp_required=target in ("DROP", "REJECT", "MARK"),
                         marks=marks)
    if target in ("jump", "goto"):
        parts.append("%s %s" % ("-j" if target == "jump" else "-g", rng.choice(user_chains)))
    elif target == "MARK":
        parts.append("-j MARK --set-xmark 0x1/0x1")
    elif target != "none":
        parts.append("-j %s" % target)
    return "-A %s %s" % (chain, " ".join(parts)) if parts else "-A %s" % chain


def iptables_ruleset(rng, family, local, marks=True):
    """iptables-restore text of one family with one to three random tables."""
    protocol = ICMP[family][0]
    tables = [table for table, probability in (("filter", 0.8), ("mangle", 0.35), ("raw", 0.3), ("security", 0.2))
              if _chance(rng, probability)] or ["filter"]
    lines = []
    for table in tables:
        headers, rules = [], []
        user = {direction: ["U%s%d" % (direction.upper(), number) for number in range(rng.randint(0, 2))]
                for direction in ("in", "out")}
        for builtin in ALL_BUILTINS[table]:
            direction = IPTABLES_CHAINS[table].get(builtin)
            drop_policy = direction is not None and _chance(rng, 0.2)
            headers.append(":%s %s [0:0]" % (builtin, "DROP" if drop_policy else "ACCEPT"))
            if direction is None:
                continue
            if drop_policy:
                rules.append("-A %s ! -p %s -j ACCEPT" % (builtin, protocol))
            for _number in range(rng.randint(0, 4)):
                rules.append(_ipt_rule(rng, family, table, builtin, direction, user[direction], local, marks))
        for direction, chains in user.items():
            for index, chain in enumerate(chains):
                headers.append(":%s - [0:0]" % chain)
                for _number in range(rng.randint(1, 3)):
                    rules.append(_ipt_rule(rng, family, table, chain, direction, chains[index + 1:], local, marks))
        lines += ["*" + table] + headers + rules + ["COMMIT"]
    return "\n".join(lines) + "\n"


# --- nftables -----------------------------------------------------------------------------------

def _nft_icmp_family(rng, table_family):
    return {"ip": "ipv4", "ip6": "ipv6"}.get(table_family) or rng.choice(FAMILIES)


def _nft_matches(rng, table_family, direction, local, conntrack, icmp_required, marks):
    parts = []
    family = _nft_icmp_family(rng, table_family)
    if icmp_required or _chance(rng, 0.6):
        if _chance(rng, 0.6):
            if _chance(rng, 0.3):
                types = ", ".join(rng.sample(NFT_TYPES[family], 2))
                parts.append("%s type %s{ %s }" % (NFT_ICMP[family], "!= " if _chance(rng, 0.2) else "", types))
            else:
                parts.append("%s type %s%s" % (NFT_ICMP[family], "!= " if _chance(rng, 0.2) else "",
                                               rng.choice(NFT_TYPES[family])))
        else:
            parts.append("meta l4proto %s" % rng.choice(("icmp", "ipv6-icmp", "{ icmp, ipv6-icmp }")))
    elif _chance(rng, 0.2):
        parts.append("meta l4proto tcp")
    if _chance(rng, 0.5):
        key = "iifname" if direction == "in" else "oifname"
        if _chance(rng, 0.2):
            parts.append('%s %s{ "lo", "eth0" }' % (key, "!= " if _chance(rng, 0.5) else ""))
        else:
            parts.append('%s %s"%s"' % (key, "!= " if _chance(rng, 0.25) else "",
                                        rng.choice(INTERFACES + WILDCARDS["nft"])))
    if conntrack and _chance(rng, 0.25):
        parts.append("ct state %s%s" % ("!= " if _chance(rng, 0.2) else "",
                                        rng.choice(("new", "established", "established,related", "invalid"))))
    if _chance(rng, 0.15):
        address_family = family if table_family == "inet" else {"ip": "ipv4", "ip6": "ipv6"}[table_family]
        keyword = "ip" if address_family == "ipv4" else "ip6"
        parts.append("%s %s %s%s" % (keyword, "daddr" if direction == "in" else "saddr",
                                     "!= " if _chance(rng, 0.2) else "", rng.choice(local[address_family])))
    if marks and _chance(rng, 0.15):
        parts.append("meta mark %s0x1" % ("!= " if _chance(rng, 0.2) else ""))
    return parts


def _nft_rule(rng, table_family, hook, direction, regular, local, conntrack, marks):
    verdicts = ["accept"] * 6 + ["drop"] * 5 + ["return"] * 2 + ["none", "vmap"] + (["mark"] if marks else [])
    if hook in ("input", "output"):
        verdicts += ["reject"] * 2
    if regular:
        verdicts += ["jump"] * 4 + ["goto"]
    verdict = rng.choice(verdicts)
    if verdict == "vmap":
        family = _nft_icmp_family(rng, table_family)
        choices = ["accept", "drop"] + ["jump %s" % chain for chain in regular]
        elements = ", ".join("%s : %s" % (name, rng.choice(choices)) for name in NFT_TYPES[family][:2])
        return "%s type vmap { %s }" % (NFT_ICMP[family], elements)
    parts = _nft_matches(rng, table_family, direction, local, conntrack,
                         icmp_required=verdict in ("drop", "reject", "mark"), marks=marks)
    if verdict in ("jump", "goto"):
        parts.append("%s %s" % (verdict, rng.choice(regular)))
    elif verdict == "mark":
        parts.append("meta mark set 0x1")
    elif verdict != "none":
        parts.append(verdict)
    return " ".join(parts) if parts else "counter"


def nftables_ruleset(rng, local, marks=True):
    """nft -f text of one or two random native tables; no two base chains share a hook
    and a priority."""
    blocks = []
    taken = set()
    for number in range(rng.randint(1, 2)):
        table_family = rng.choice(("ip", "ip6", "inet"))
        bases = []
        for hook in rng.sample(sorted(HOOKS), rng.randint(1, 3)):
            priority = rng.choice([priority for priority in PRIORITIES if (hook, priority) not in taken])
            taken.add((hook, priority))
            bases.append((hook, priority))
        conntrack = all(priority >= -200 for _hook, priority in bases)
        regular = {direction: ["r%s%d" % (direction, index) for index in range(rng.randint(0, 2))]
                   for direction in ("in", "out")}
        chains = []
        for hook, priority in bases:
            direction = HOOKS[hook]
            drop_policy = _chance(rng, 0.2)
            policy = "drop" if drop_policy else "accept"
            body = ["type filter hook %s priority %d; policy %s;" % (hook, priority, policy)]
            if drop_policy:
                body.append("meta l4proto != { icmp, ipv6-icmp } accept")
            body += [_nft_rule(rng, table_family, hook, direction, regular[direction], local,
                               conntrack and priority >= -200, marks) for _index in range(rng.randint(0, 4))]
            chains.append("\tchain b_%s {\n%s\n\t}" % (hook, "\n".join("\t\t" + line for line in body)))
        for direction, names in regular.items():
            for index, name in enumerate(names):
                body = [_nft_rule(rng, table_family, None, direction, names[index + 1:], local, conntrack, marks)
                        for _count in range(rng.randint(1, 3))]
                chains.append("\tchain %s {\n%s\n\t}" % (name, "\n".join("\t\t" + line for line in body)))
        blocks.append("table %s g%d {\n%s\n}\n" % (table_family, number, "\n".join(chains)))
    return "".join(blocks)


def generate(rng: random.Random, local: dict[str, list[str]]) -> dict[str, str]:
    """A random ruleset in one to three flavours. ``local`` maps each family to
    networks (one holds this node's gateway address) that address matches use."""
    flavours = rng.sample(["iptables-legacy", "iptables-nft", "nftables"], rng.randint(1, 3))
    # one flavour sets and matches marks: the two iptables flavours' tables share their
    # priorities, and marks one sets are undecided for the other
    marking = rng.choice(flavours)
    ruleset = {}
    for flavour in flavours:
        if flavour == "nftables":
            ruleset["nftables.nft"] = nftables_ruleset(rng, local, marks=flavour == marking)
            continue
        for family in FAMILIES:
            if _chance(rng, 0.8):
                ruleset["%s.%s" % (flavour, "v4" if family == "ipv4" else "v6")] = iptables_ruleset(
                    rng, family, local, marks=flavour == marking)
    return ruleset or {"nftables.nft": nftables_ruleset(rng, local)}


def local_networks(node) -> dict[str, list[str]]:
    """Networks for address matches on a lab node's side: its gateway address, its Pod
    CIDR's supernet (both hold the address) and the transport network (does not)."""
    return {
        "ipv4": [node.gateway_ipv4 + "/32", "198.19.0.0/16", "198.18.0.0/24"],
        "ipv6": [node.gateway_ipv6 + "/128", "2001:db8:1::/48", "2001:db8::/64"],
    }
