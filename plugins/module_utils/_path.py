# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The path of a probe packet through every filter of a network namespace.

The kernel hands a packet at a netfilter hook to every base chain registered there,
in priority order: iptables-legacy's tables, iptables-nft's tables and every native
nftables table alike. An accept ends the walk of one base chain only; the packet
goes on to the next, and a drop (or reject) in any of them drops it. An incoming
probe meets the prerouting and input hooks, an outgoing one output and postrouting.

The backends turn their rulesets into the neutral model below (``Table``, ``Chain``,
``Rule``): each rule is a ``match`` function that answers True, False or None
(cannot tell) for a ``Packet``, and an action. ``walk`` follows jumps, gotos,
returns and verdict maps through one base chain; ``judge`` walks every filter of a
path and says what the packet meets. The same judgement decides where
nlm_icmp_allow puts its rules (a filter needs one when, without the owned rules, it
would not certainly accept the packet) and what nlm_icmp_allow_info reports.

Where a match cannot be decided (a rate limit, an owner, a set this module cannot
read), the walk follows both outcomes: a filter that may drop the packet needs an
allow rule, and a path that may drop it is not reported as effective.
"""

from __future__ import annotations

import ipaddress
from collections import namedtuple

from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_rules import ICMP_TYPES

HOOKS = {"in": ("prerouting", "input"), "out": ("output", "postrouting")}
HOOK_DIRECTIONS = {hook: direction for direction, hooks in HOOKS.items() for hook in hooks}
# The order of the flavours' base chains at one hook and priority is the order in
# which they were registered, which nothing reports; this order only decides which
# of two equally placed drops is named, never the verdict.
FLAVOURS = ("iptables-legacy", "iptables-nft", "nftables")
# Conntrack runs at priority -200: base chains before it see no connection state.
CONNTRACK_PRIORITY = -200
# The nftables table families (and iptables' IPv4/IPv6 tables) that see each IP family.
TABLE_FAMILIES = {"inet": ("ipv4", "ipv6"), "ip": ("ipv4",), "ip6": ("ipv6",)}
TABLE_FAMILY_OF = {"ipv4": "ip", "ipv6": "ip6"}
MAX_DEPTH = 64

ACCEPT, DROP, UNKNOWN = "accept", "drop", "unknown"
# Addresses a peer's probe can never come from or go to on a real interface.
# IPv6 adds the IPv4-compatible (deprecated, RFC 4291) and IPv4-mapped (never on the wire)
# ranges, which firewalld rejects on the way out, and see _never_6to4.
_NEVER_PEERS = {
    "ipv4": [ipaddress.ip_network(net) for net in ("0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/4", "255.255.255.255/32")],
    "ipv6": [ipaddress.ip_network(net) for net in ("::/128", "::1/128", "fe80::/10", "ff00::/8", "::/96", "::ffff:0:0/96")],
}
_6TO4 = ipaddress.ip_network("2002::/16")
# RFC 3056 builds a 6to4 prefix from a global IPv4 address: none embeds these
_NOT_GLOBAL_IPV4 = [ipaddress.ip_network(net) for net in ("0.0.0.0/8", "10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16",
                                                          "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/3")]


def _never_6to4(net):
    """Whether ``net`` lies in 6to4 addresses whose embedded IPv4 address is not global."""
    if net.version != 6 or net.prefixlen <= 16 or not net.subnet_of(_6TO4):
        return False
    embedded = ipaddress.ip_network(((int(net.network_address) >> 80) & 0xFFFFFFFF, min(net.prefixlen - 16, 32)),
                                    strict=False)
    return any(embedded.subnet_of(never) for never in _NOT_GLOBAL_IPV4)


def never_peer(net, family):
    """Whether no probe of a peer can come from or go to an address in ``net``."""
    return any(net.subnet_of(never) for never in _NEVER_PEERS[family] if never.version == net.version) \
        or _never_6to4(net)


# --- three-valued logic -------------------------------------------------------------

def all_of(results):
    """True when every result is True, False when one is False, else None."""
    outcome = True
    for result in results:
        if result is False:
            return False
        if result is None:
            outcome = None
    return outcome


def any_of(results):
    """True when one result is True, False when all are False, else None."""
    outcome = False
    for result in results:
        if result is True:
            return True
        if result is None:
            outcome = None
    return outcome


def negate(result):
    return None if result is None else not result


def conjunction(checks):
    """A rule's match from its checks (each (packet, base, state) -> True/False/None):
    all_of, unrolled, since it runs for every rule a walk passes."""
    def match(packet, base, state):
        outcome = True
        for check in checks:
            result = check(packet, base, state)
            if result is False:
                return False
            if result is None:
                outcome = None
        return outcome
    return match


# --- the packet -------------------------------------------------------------------------

class Packet(namedtuple("Packet", "family direction interface message local remote")):
    """One kind of probe packet: an echo request or reply of ``family`` going in
    or out through ``interface``. ``local`` is the set of this node's addresses the
    packet can carry (None: not known), ``remote`` the peers' (None: any peer)."""

    __slots__ = ()

    @classmethod
    def of(cls, rule, local=None, remote=None):
        """The packet an AllowRule lets through."""
        return cls(rule.family, rule.direction, rule.interface, rule.message,
                   None if local is None else frozenset(local), None if remote is None else frozenset(remote))

    @property
    def icmp_type(self):
        return ICMP_TYPES[self.family][self.message]

    @property
    def ct_state(self):
        """A request opens a connection (new); a reply belongs to the one its request opened."""
        return "new" if self.message == "echo-request" else "established"

    def interface_at(self, side):
        """The packet's interface on ``side`` ('in': the input device, 'out': the
        output device), or '' when the hook has none on that side."""
        return self.interface if side == self.direction else ""

    def addresses(self, side):
        """(known addresses or None, whether the side is the peer's) of the source
        ('saddr') or destination ('daddr')."""
        remote_side = "saddr" if self.direction == "in" else "daddr"
        if side == remote_side:
            return self.remote, True
        return self.local, False


def address_match(packet, side, networks):
    """Whether the packet's source or destination lies in one of ``networks``
    (ip_network objects)."""
    addresses, _remote = packet.addresses(side)
    version = 4 if packet.family == "ipv4" else 6
    networks = [net for net in networks if net.version == version]
    if not addresses:
        # Not known: what no probe can carry does not match, an all-covering network does.
        if any(net.prefixlen == 0 for net in networks):
            return True
        if all(never_peer(net, packet.family) for net in networks):
            return False
        return None
    inside = [any(address in net for net in networks if net.version == address.version) for address in addresses]
    if all(inside):
        return True
    return False if not any(inside) else None


# --- the model ----------------------------------------------------------------------------

class State(object):
    """What earlier rules did to the packet that later rules may look at: its mark
    (None once it cannot be told)."""

    __slots__ = ("mark",)

    def __init__(self, mark=0):
        self.mark = mark


class Rule(object):
    """A rule: ``match(packet, base_chain, state)`` -> True/False/None (the base chain
    the walk started in decides, by its hook and priority, what can be matched; the
    State holds what earlier rules did), an action, and how to name it.

    Actions are tuples: ``(ACCEPT,)``, ``(DROP, text)`` (drop or reject), ``(UNKNOWN,)``
    (a verdict this module cannot foresee, such as a queue), ``("continue",)``,
    ``("return",)``, ``("jump", chain)``, ``("goto", chain)``, ``("mark", function)``
    or ``("mark", function, action)`` (sets the mark: function(old mark or None) -> new
    mark or None, then goes on with the action, if any) and ``("vmap", key, [(element,
    action)])`` where ``key(packet, base_chain, state, element)`` says whether the
    packet's key is the element."""

    __slots__ = ("match", "action", "_text", "position", "handle", "owned", "chain")

    def __init__(self, match, action, text, position=None, handle=None, owned=False):
        self.match = match
        self.action = action
        # a function giving the text is called only when the rule is named
        self._text = text
        self.position = position
        self.handle = handle
        self.owned = owned
        self.chain = None

    @property
    def text(self):
        if callable(self._text):
            self._text = self._text()
        return self._text


class Chain(object):
    """A chain of a table; base chains have a hook, a priority and a policy."""

    __slots__ = ("name", "rules", "hook", "priority", "policy", "table", "kind")

    def __init__(self, name, rules=(), hook=None, priority=None, policy=None, kind="filter"):
        self.name = name
        self.rules = list(rules)
        self.hook = hook
        self.priority = priority
        self.policy = policy
        self.kind = kind
        self.table = None
        for position, rule in enumerate(self.rules, 1):
            rule.chain = self
            if rule.position is None:
                rule.position = position


class Table(object):
    """A table of one flavour: its chains by name. ``family`` is the nftables
    family (ip, ip6, inet); iptables tables are ip (IPv4) or ip6 (IPv6)."""

    def __init__(self, flavour, family, name, chains=()):
        self.flavour = flavour
        self.family = family
        self.name = name
        self.chains = {}
        for chain in chains:
            self.add(chain)

    def add(self, chain):
        chain.table = self
        self.chains[chain.name] = chain

    def base_chains(self):
        return [chain for chain in self.chains.values() if chain.hook is not None]

    @property
    def label(self):
        return "%s %s" % (self.family, self.name)


def filters(tables, family, direction):
    """The base chains a packet of ``family`` going ``direction`` meets, in order."""
    hooks = HOOKS[direction]
    found = []
    for table in tables:
        if family not in TABLE_FAMILIES.get(table.family, ()):
            continue
        for chain in table.base_chains():
            if chain.hook in hooks and chain.kind in ("filter", "route"):
                found.append(chain)
    return sorted(found, key=lambda chain: (hooks.index(chain.hook), chain.priority,
                                            FLAVOURS.index(chain.table.flavour)))


# --- walking a chain ------------------------------------------------------------------------

class Walk(object):
    """What can become of a packet in one base chain: ``verdicts`` maps accept,
    drop and unknown to the first rule (or the chain, for its policy) that gives it."""

    def __init__(self, chain):
        self.chain = chain
        self.verdicts = {}

    def add(self, kind, witness):
        self.verdicts.setdefault(kind, witness)

    def certain(self, kind):
        return set(self.verdicts) == {kind}

    @property
    def verdict(self):
        """accept or drop when certain, else unknown."""
        if self.certain(ACCEPT):
            return ACCEPT
        if self.certain(DROP):
            return DROP
        return UNKNOWN

    @property
    def witness(self):
        """The rule (or chain, for a policy) behind the verdict: for an uncertain
        one, the first that may drop, else the first that cannot be foreseen."""
        for kind in (DROP, UNKNOWN, ACCEPT):
            if kind in self.verdicts:
                return self.verdicts[kind]
        return None


def _action_outcomes(action, rule, packet, state, walk, skip_owned, depth):
    """What an action whose rule matched can lead to: ``next`` is a set of
    'continue' (the walk goes on in this chain) and 'return' (it goes back to the caller)."""
    kind = action[0]
    if kind in (ACCEPT, DROP, UNKNOWN):
        walk.add(kind, rule)
        return set()
    if kind == "continue":
        return {"continue"}
    if kind == "mark":
        state.mark = action[1](state.mark)
        if len(action) > 2:
            return _action_outcomes(action[2], rule, packet, state, walk, skip_owned, depth)
        return {"continue"}
    if kind == "return":
        return {"return"}
    if kind in ("jump", "goto"):
        target = rule.chain.table.chains.get(action[1])
        if target is None or depth >= MAX_DEPTH:
            walk.add(UNKNOWN, rule)
            return set()
        ends = _walk(target, packet, state, walk, skip_owned, depth + 1)
        if not ends:
            return set()
        return {"continue"} if kind == "jump" else {"return"}
    if kind == "vmap":
        key, elements = action[1], action[2]
        results = [(key(packet, walk.chain, state, element), element_action) for element, element_action in elements]
        if any(result is None for result, _action in results):
            candidates = [element_action for result, element_action in results if result is not False]
            following = {"continue"}
            for candidate in candidates:
                following |= _action_outcomes(candidate, rule, packet, state, walk, skip_owned, depth)
            return following
        chosen = next((element_action for result, element_action in results if result), None)
        if chosen is None:
            return {"continue"}
        return _action_outcomes(chosen, rule, packet, state, walk, skip_owned, depth)
    walk.add(UNKNOWN, rule)
    return set()


def _walk(chain, packet, state, walk, skip_owned, depth):
    """Walk ``chain``, adding its possible verdicts to ``walk``; return whether the
    walk may come back out of it (falling off its end or through a return)."""
    returns = False
    for rule in chain.rules:
        if skip_owned and rule.owned:
            continue
        matched = rule.match(packet, walk.chain, state)
        if matched is False:
            continue
        mark_before = state.mark
        following = _action_outcomes(rule.action, rule, packet, state, walk, skip_owned, depth)
        if matched is None:
            following = following | {"continue"}
            if state.mark != mark_before:
                state.mark = None
        if "return" in following:
            returns = True
        if "continue" not in following:
            return returns
    return True


def walk(chain, packet, state=None, skip_owned=False):
    """The Walk of ``packet`` through the base chain ``chain``, policy included.
    ``skip_owned`` walks it as if no owned rule were there."""
    result = Walk(chain)
    if _walk(chain, packet, state or State(), result, skip_owned, 0):
        result.add(DROP if chain.policy == DROP else ACCEPT, chain)
    return result


def first_risk(chain, packet, skip_owned=True):
    """The first rule of the base chain ``chain`` at which ``packet`` may meet another
    verdict than accept (a drop, a reject, a jump to one, a verdict that cannot be
    foreseen, a return to a drop policy), or None: an allow rule placed just before
    it, or at the end when there is none, takes effect."""
    state = State()
    for rule in chain.rules:
        if skip_owned and rule.owned:
            continue
        matched = rule.match(packet, chain, state)
        if matched is False:
            continue
        probe = Walk(chain)
        following = _action_outcomes(rule.action, rule, packet, state, probe, skip_owned, 0)
        if DROP in probe.verdicts or UNKNOWN in probe.verdicts:
            return rule
        if "return" in following and chain.policy == DROP:
            return rule
        if matched is True and "continue" not in following:
            return None
    return None


Judgement = namedtuple("Judgement", "verdict witness walks")
Judgement.__doc__ = """A path's verdict (accept, drop, unknown), the Walk that decides
it (None when every filter accepts), and every filter's Walk in path order."""


def _sets_marks(chain, seen=None):
    """Whether a rule of ``chain``, or of a chain it reaches, may set the mark."""
    seen = set() if seen is None else seen
    if id(chain) in seen:
        return False
    seen.add(id(chain))
    for rule in chain.rules:
        actions = [rule.action]
        if rule.action[0] == "vmap":
            actions = [action for _element, action in rule.action[2]]
        for action in actions:
            if action[0] == "mark":
                return True
            target = chain.table.chains.get(action[1]) if action[0] in ("jump", "goto") else None
            if target is not None and _sets_marks(target, seen):
                return True
    return False


def judge(chains, packet, skip_owned=False):
    """What ``packet`` meets on its way through the base chains ``chains`` (in path order).

    Base chains at the same hook and priority run in the order they were registered,
    which nothing reports: when one of them may set the mark, the others see a mark
    that cannot be told, and after them the mark is the setter's only when it is alone."""
    state = State()
    walks = []
    index = 0
    while index < len(chains):
        group = [chain for chain in chains[index:]
                 if (chain.hook, chain.priority) == (chains[index].hook, chains[index].priority)]
        index += len(group)
        if len(group) == 1:
            walks.append(walk(group[0], packet, state, skip_owned))
            continue
        setters = [chain for chain in group if _sets_marks(chain)]
        after = state.mark
        for chain in group:
            own = State(None if [setter for setter in setters if setter is not chain] else state.mark)
            walks.append(walk(chain, packet, own, skip_owned))
            if chain in setters:
                after = own.mark if len(setters) == 1 else None
        state.mark = after
    dropped = next((one for one in walks if one.certain(DROP)), None)
    if dropped is not None:
        return Judgement(DROP, dropped, walks)
    doubtful = next((one for one in walks if not one.certain(ACCEPT)), None)
    if doubtful is None:
        return Judgement(ACCEPT, None, walks)
    return Judgement(UNKNOWN, doubtful, walks)


def describe_witness(walk_result):
    """Where the verdict of a Walk comes from: flavour, table, chain, position,
    handle and the rule's text (the policy's, for a chain)."""
    witness = walk_result.witness
    chain = walk_result.chain
    entry = {"flavour": chain.table.flavour, "table": chain.table.label, "chain": chain.name,
             "hook": chain.hook, "priority": chain.priority}
    if isinstance(witness, Chain) or witness is None:
        entry.update(position=None, handle=None, rule="policy %s" % chain.policy)
    else:
        entry.update(chain=witness.chain.name, position=witness.position, handle=witness.handle, rule=witness.text)
    return entry
