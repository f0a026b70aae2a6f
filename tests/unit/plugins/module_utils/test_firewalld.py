"""The firewalld backend's planning and its D-Bus calls, through busctl with run_command
mocked and through dbus-python's types with its bus mocked; the firewalld machine lab (tests/integration/test_firewalld_machines.py) shows
them on a real firewalld."""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils import _firewalld, _path
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables_plan import model
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables_ruleset import parse_ruleset
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_rules import expected_rules

GW4, GW6 = "198.19.1.1", "2001:db8:1:1::1"


def gateway_rules(families=("ipv4", "ipv6"), roles=("responder", "prober")):
    rules = [rule for family in families for rule in expected_rules(family, ["antrea-gw0"], roles)]
    return _firewalld.interface_rules(rules, {"ipv4": [GW4], "ipv6": [GW6]})


def test_rich_rules_name_the_interfaces_address_on_the_probes_side():
    rules = gateway_rules()
    assert rules["in"] == [
        'rule family="ipv4" destination address="198.19.1.1" icmp-type name="echo-request" accept',
        'rule family="ipv4" destination address="198.19.1.1" icmp-type name="echo-reply" accept',
        'rule family="ipv6" destination address="2001:db8:1:1::1" icmp-type name="echo-request" accept',
        'rule family="ipv6" destination address="2001:db8:1:1::1" icmp-type name="echo-reply" accept',
    ]
    assert all(' source address="' in rule for rule in rules["out"]) and len(rules["out"]) == 4
    responder = gateway_rules(families=("ipv4",), roles=("responder",))
    assert responder == {"in": [_firewalld.rich_rule("ipv4", "in", "echo-request", GW4)],
                         "out": [_firewalld.rich_rule("ipv4", "out", "echo-reply", GW4)]}


def test_records_replace_only_the_families_and_interfaces_asked_for():
    current = _firewalld.desired_records({}, ["antrea-gw0"], ("ipv4", "ipv6"), {"antrea-gw0": gateway_rules()})
    other = _firewalld.interface_rules(expected_rules("ipv4", ["eth0"], ("responder",)), {"ipv4": ["198.18.0.11"]})
    both = _firewalld.desired_records(current, ["eth0"], ("ipv4",), {"eth0": other})
    assert both["in"]["antrea-gw0"] == current["in"]["antrea-gw0"] and len(both["in"]["eth0"]) == 1
    # absent of IPv6 on the gateway keeps its IPv4 rules and eth0's
    fewer = _firewalld.desired_records(both, ["antrea-gw0"], ("ipv6",), {})
    assert {_firewalld.rule_family(rule) for rule in fewer["in"]["antrea-gw0"]} == {"ipv4"}
    assert fewer["in"]["eth0"] == both["in"]["eth0"]
    # and absent of everything leaves no record, so no policy
    empty = _firewalld.desired_records(fewer, ["antrea-gw0", "eth0"], ("ipv4", "ipv6"), {})
    assert empty == {"in": {}, "out": {}}
    assert _firewalld.policy_settings("in", empty["in"], "nodelatency.monitor") is None


def test_the_owned_policies_come_first_and_record_their_owner():
    record = _firewalld.desired_records({}, ["antrea-gw0"], ("ipv4",), {"antrea-gw0": gateway_rules(("ipv4",))})
    inbound = _firewalld.policy_settings("in", record["in"], "nodelatency.monitor")
    outbound = _firewalld.policy_settings("out", record["out"], "nodelatency.monitor")
    assert inbound["priority"] == outbound["priority"] == -32768 and inbound["target"] == "CONTINUE"
    assert (inbound["ingress_zones"], inbound["egress_zones"]) == (["ANY"], ["HOST"])
    assert (outbound["ingress_zones"], outbound["egress_zones"]) == (["HOST"], ["ANY"])
    assert _firewalld.record_of("nlm-echo-in", inbound, "nodelatency.monitor") == record["in"]
    with pytest.raises(NlmError, match="did not write for the comment 'other'"):
        _firewalld.record_of("nlm-echo-in", inbound, "other")
    with pytest.raises(NlmError, match="firewall-cmd --permanent --delete-policy=nlm-echo-in"):
        _firewalld.record_of("nlm-echo-in", {"description": "a policy of the operator's"}, "nodelatency.monitor")


def test_what_changes_and_what_takes_a_reload():
    record = _firewalld.desired_records({}, ["antrea-gw0"], ("ipv4",), {"antrea-gw0": gateway_rules(("ipv4",))})
    want = _firewalld.policy_settings("in", record["in"], "nodelatency.monitor")
    same = dict(want, rich_rules=list(reversed(want["rich_rules"])))
    assert not _firewalld.permanent_differs(same, want)
    assert _firewalld.permanent_differs(dict(want, services=["ssh"]), want)
    assert _firewalld.permanent_differs(None, want) and _firewalld.permanent_differs(want, None)
    assert not _firewalld.permanent_differs(None, None)
    runtime = {key: want[key] for key in ("priority", "target", "ingress_zones", "egress_zones", "rich_rules")}
    assert not _firewalld.runtime_differs(runtime, want) and not _firewalld.needs_reload(runtime, want)
    assert _firewalld.runtime_differs(dict(runtime, rich_rules=want["rich_rules"][:1]), want)
    assert _firewalld.needs_reload(None, want) and _firewalld.needs_reload(runtime, None)
    assert _firewalld.needs_reload(dict(runtime, priority=-1), want)
    assert not _firewalld.needs_reload(None, None)


@pytest.mark.parametrize("signature,value,words", [
    ("s", "nlm-echo-in", ["nlm-echo-in"]),
    ("i", -32768, ["-32768"]),
    ("b", False, ["false"]),
    ("as", ["ANY"], ["1", "ANY"]),
    ("as", [], ["0"]),
    ("a(ss)", [["22", "tcp"], ["53", "udp"]], ["2", "22", "tcp", "53", "udp"]),
    ("a{sv}", {"priority": -32768, "short": "x", "egress_zones": _firewalld.Typed("as", ["HOST"]),
               "ports": _firewalld.Typed("a(ss)", [])},
     ["4", "priority", "i", "-32768", "short", "s", "x", "egress_zones", "as", "1", "HOST", "ports", "a(ss)", "0"]),
])
def test_values_in_busctls_notation(signature, value, words):
    assert _firewalld.busctl_arguments(signature, value) == words


class FakeBus:
    """run_command answering busctl as firewalld would, from canned JSON per method."""

    def __init__(self, answers, after_reload=None):
        self.answers = answers
        # the answers that change once firewalld has reloaded
        self.after_reload = after_reload or {}
        self.calls = []

    def get_bin_path(self, name):
        return "/usr/bin/" + name

    def run_command(self, argv):
        assert isinstance(argv, list)
        self.calls.append(argv)
        method = argv[8] if argv[3] == "call" else argv[-1]
        reloaded = any(call[3] == "call" and call[8] == "reload" for call in self.calls[:-1])
        answer = (self.after_reload if reloaded and method in self.after_reload else self.answers).get(method, (0, "", ""))
        return answer if isinstance(answer, tuple) else (0, json.dumps(answer), "")


class FakeDbus:
    """dbus-python's value types as far as _firewalld uses them: the type names, the
    signature of containers and the variant level of what a bus answers."""

    class exceptions:
        class DBusException(Exception):
            def get_dbus_message(self):
                return str(self)

            def get_dbus_name(self):
                return "org.fedoraproject.FirewallD1.Exception"

    def __init__(self):
        for name, base in (("String", str), ("ObjectPath", str), ("Signature", str), ("Boolean", int),
                           ("Int32", int), ("UInt32", int), ("Int16", int), ("UInt16", int), ("Int64", int),
                           ("UInt64", int), ("Byte", int), ("Double", float)):
            setattr(self, name, self._kind(name, base))
        self.Array = self._container("Array", list)
        self.Struct = self._container("Struct", tuple)
        self.Dictionary = self._container("Dictionary", dict)

    @staticmethod
    def _kind(name, base):
        def new(cls, value=None, variant_level=0):
            made = base.__new__(cls, value) if value is not None else base.__new__(cls)
            made.variant_level = variant_level
            return made
        return type(name, (base,), {"__new__": new})

    @staticmethod
    def _container(name, base):
        def init(self, items=(), signature=None, variant_level=0):
            if base is tuple:
                return
            base.__init__(self, items)
            self.signature, self.variant_level = signature, variant_level

        def new(cls, items=(), signature=None, variant_level=0):
            made = base.__new__(cls, tuple(items)) if base is tuple else base.__new__(cls)
            if base is tuple:
                made.signature, made.variant_level = signature, variant_level
            return made
        return type(name, (base,), {"__new__": new, "__init__": init})


class FakeSystemBus:
    """A bus that answers call_blocking from canned dbus-python values and keeps the calls."""

    def __init__(self, dbus, answers):
        self.dbus, self.answers, self.calls = dbus, answers, []

    def call_blocking(self, bus_name, path, interface, method, signature, arguments, timeout=-1.0):
        self.calls.append((bus_name, path, interface, method, signature, arguments))
        answer = self.answers.get(method)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_dbus_python_is_sent_the_types_busctl_would_be_told():
    dbus = FakeDbus()
    sent = _firewalld.dbus_value(dbus, "a{sv}", {"priority": -32768, "short": "x", "masquerade": _firewalld.Typed("b", False),
                                                 "egress_zones": _firewalld.Typed("as", ["HOST"]),
                                                 "ports": _firewalld.Typed("a(ss)", [["22", "tcp"]]),
                                                 "protocols": _firewalld.Typed("as", [])})
    assert type(sent).__name__ == "Dictionary" and sent.signature == "sv"
    assert {key: _firewalld.dbus_signature(value) for key, value in sent.items()} == {
        "priority": "i", "short": "s", "masquerade": "b", "egress_zones": "as", "ports": "a(ss)", "protocols": "as"}
    assert list(sent["ports"][0]) == ["22", "tcp"] and sent["protocols"] == []
    with pytest.raises(NlmError, match="D-Bus type h"):
        _firewalld.dbus_value(dbus, "h", 3)


def test_dbus_python_answers_read_as_busctl_prints_them():
    dbus = FakeDbus()
    settings = dbus.Dictionary({
        dbus.String("target"): dbus.String("DROP", variant_level=1),
        dbus.String("priority"): dbus.Int32(-32768, variant_level=1),
        dbus.String("forward"): dbus.Boolean(True, variant_level=1),
        dbus.String("interfaces"): dbus.Array([dbus.String("eth0")], signature="s", variant_level=1),
        dbus.String("ports"): dbus.Array([dbus.Struct([dbus.String("22"), dbus.String("tcp")])], signature="(ss)",
                                         variant_level=1),
    }, signature="sv")
    bus = FakeSystemBus(dbus, {"getZoneSettings2": settings, "getPolicyByName": dbus.ObjectPath("/o/p/0"),
                               "Get": dbus.String("RUNNING", variant_level=1),
                               "getPolicySettings": dbus.exceptions.DBusException("INVALID_POLICY: nlm-echo-in"),
                               "reload": dbus.exceptions.DBusException("NOT_AUTHORIZED: reload")})
    daemon = _firewalld.Daemon(None, transport=_firewalld.InProcess(dbus, bus))
    assert daemon.via == "dbus-python"
    assert daemon.runtime_zone("public") == {
        "target": {"type": "s", "data": "DROP"}, "priority": {"type": "i", "data": -32768},
        "forward": {"type": "b", "data": True}, "interfaces": {"type": "as", "data": ["eth0"]},
        "ports": {"type": "a(ss)", "data": [["22", "tcp"]]}}
    assert bus.calls[-1][1:5] == ("/org/fedoraproject/FirewallD1", "org.fedoraproject.FirewallD1.zone",
                                  "getZoneSettings2", "s")
    assert daemon._permanent_policy_object("nlm-echo-in") == "/o/p/0"
    assert daemon.state() == "RUNNING"
    assert bus.calls[-1][2:6] == ("org.freedesktop.DBus.Properties", "Get", "ss",
                                  ["org.fedoraproject.FirewallD1", "state"])
    assert daemon.runtime_policy("nlm-echo-in") is None
    with pytest.raises(NlmError, match=r"firewalld refused reload \(NOT_AUTHORIZED: reload\)"):
        daemon.reload()


def test_the_bus_is_reached_in_process_only_where_dbus_python_is(monkeypatch):
    # the unit tests' conftest makes dbus-python impossible to import
    assert _firewalld.Daemon(FakeBus({})).via == "busctl"
    dbus = FakeDbus()
    dbus.SystemBus = lambda: FakeSystemBus(dbus, {})
    monkeypatch.setitem(sys.modules, "dbus", dbus)
    assert _firewalld.Daemon(FakeBus({})).via == "dbus-python"

    def refused():
        raise dbus.exceptions.DBusException("org.freedesktop.DBus.Error.FileNotFound")
    dbus.SystemBus = refused
    assert _firewalld.Daemon(FakeBus({})).via == "busctl"
    monkeypatch.setitem(sys.modules, "dbus", None)
    missing = FakeBus({})
    missing.get_bin_path = lambda name: None
    with pytest.raises(NlmError, match="neither dbus-python .* nor systemd's busctl"):
        _firewalld.Daemon(missing)


def test_calls_are_argv_lists_with_options_ended_before_the_arguments():
    bus = FakeBus({"getPolicySettings": {"type": "a{sv}", "data": [{"priority": {"type": "i", "data": -32768}}]}})
    daemon = _firewalld.Daemon(bus)
    assert _firewalld.plain_settings(daemon.runtime_policy("nlm-echo-in")) == {"priority": -32768}
    daemon.add_permanent_policy("nlm-echo-in", _firewalld.owned_policy_arguments(
        _firewalld.policy_settings("in", {"antrea-gw0": ["rule x"]}, "nodelatency.monitor")))
    argv = bus.calls[-1]
    # a negative priority would read as an option without the "--"
    assert argv[:5] == ["/usr/bin/busctl", "--system", "--json=short", "call", "--"]
    assert argv[8:10] == ["addPolicy", "sa{sv}"] and "-32768" in argv


def test_a_missing_policy_is_none_and_a_refusal_an_error_that_changes_nothing():
    bus = FakeBus({"getPolicySettings": (1, "", "Call failed: INVALID_POLICY: nlm-echo-in"),
                   "reload": (1, "", "Call failed: NOT_AUTHORIZED: reload")})
    daemon = _firewalld.Daemon(bus)
    assert daemon.runtime_policy("nlm-echo-in") is None
    with pytest.raises(NlmError, match=r"firewalld refused reload \(NOT_AUTHORIZED: reload\)"):
        daemon.reload()


def test_a_firewalld_that_does_not_answer_or_is_starting_is_refused():
    silent = _firewalld.Daemon(FakeBus({"state": (1, "", "Failed to connect to bus: No such file or directory")}))
    with pytest.raises(NlmError, match="does not answer on the system D-Bus"):
        silent.require_running()
    starting = _firewalld.Daemon(FakeBus({"state": {"type": "s", "data": "INIT"}}))
    with pytest.raises(NlmError, match="state INIT, not RUNNING"):
        starting.require_running()


def test_a_reload_puts_back_what_it_took_from_the_runtime_of_other_zones_and_policies():
    typed_ports = {"type": "a(ss)", "data": [["7777", "tcp"]]}
    typed_interfaces = {"type": "as", "data": [["eth0"]]}
    bus = FakeBus({
        "getZones": {"type": "as", "data": [["public", "trusted"]]},
        "getPolicies": {"type": "as", "data": [["nlm-echo-in", "allow-host-ipv6"]]},
        "getZoneSettings2": {"type": "a{sv}", "data": [{"ports": typed_ports, "interfaces": typed_interfaces}]},
        "getPolicySettings": {"type": "a{sv}", "data": [{}]},
    }, after_reload={
        # the reload keeps the interface binding and drops the runtime-only port
        "getZoneSettings2": {"type": "a{sv}", "data": [{"interfaces": typed_interfaces}]},
    })
    kept = _firewalld.reload_keeping_runtime(_firewalld.Daemon(bus))
    assert kept == ["public", "trusted"]
    methods = [argv[8] for argv in bus.calls]
    reload = methods.index("reload")
    # read before and after the reload, the permanent configuration not at all
    assert methods[:reload].count("getZoneSettings2") == 2 and methods[reload:].count("getZoneSettings2") == 2
    assert not {"getZoneByName", "getSettings2", "getPolicyByName", "getSettings"} & set(methods)
    assert reload < methods.index("setZoneSettings2")
    # the owned policy is neither read nor set back, the unchanged one not set back
    assert "setPolicySettings" not in methods
    assert not any("nlm-echo-in" in argv for argv in bus.calls)
    zone_set = bus.calls[methods.index("setZoneSettings2")]
    assert zone_set[zone_set.index("ports"):zone_set.index("ports") + 5] == ["ports", "a(ss)", "1", "7777", "tcp"]


def test_a_reload_that_changes_nothing_sets_nothing_back():
    bus = FakeBus({
        "getZones": {"type": "as", "data": [["public"]]},
        "getPolicies": {"type": "as", "data": [[]]},
        "getZoneSettings2": {"type": "a{sv}", "data": [{"interfaces": {"type": "as", "data": [["eth0"]]}}]},
    })
    snapshot = _firewalld.runtime_snapshot(_firewalld.Daemon(bus))
    assert snapshot[0] == [("zone", "public")]
    assert _firewalld.reload_keeping_runtime(_firewalld.Daemon(bus), snapshot) == []
    methods = [argv[8] for argv in bus.calls]
    # the snapshot given is not read again before the reload
    assert methods.count("getZones") == 1 and methods.index("reload") == methods.index("getZoneSettings2") + 1
    assert "setZoneSettings2" not in methods


def test_only_the_owners_backup_of_its_policy_is_removed(tmp_path):
    ours = '<?xml version="1.0" encoding="utf-8"?>\n<policy><description>%s</description></policy>\n' % json.dumps(
        {"owner": "nodelatency.monitor", "interfaces": {}}).replace('"', "&quot;")
    (tmp_path / "nlm-echo-in.xml.old").write_text(ours)
    (tmp_path / "nlm-echo-out.xml.old").write_text("<policy><description>the operator's</description></policy>")
    assert _firewalld.remove_own_backup("nlm-echo-in", "nodelatency.monitor", str(tmp_path))
    assert _firewalld.remove_own_backup("nlm-echo-out", "nodelatency.monitor", str(tmp_path)) is None
    assert sorted(path.name for path in tmp_path.iterdir()) == ["nlm-echo-out.xml.old"]


# firewalld 1.3.3's own nft table on a lab machine (FIREWALL=firewalld): as it booted
# (hardened: echo dropped by the zone on the way in, by a policy on the way out), and
# after nlm_icmp_allow opened antrea-gw0 (198.19.1.1, 2001:db8:1:1::1)
FIXTURES = Path(__file__).parents[2] / "fixtures" / "nftables"
LOCAL = {"ipv4": ["198.19.1.1"], "ipv6": ["2001:db8:1:1::1"]}


def firewalld_ruleset(name):
    return parse_ruleset((FIXTURES / ("firewalld-%s.json" % name)).read_text())


def firewalld_verdicts(name):
    """{(family, direction, message): (verdict, witness)} of gateway probes through the table."""
    ruleset = firewalld_ruleset(name)
    found = {}
    for family in ("ipv4", "ipv6"):
        tables = model(ruleset, family, "nodelatency.monitor")
        for rule in expected_rules(family, ["antrea-gw0"], ("responder", "prober")):
            probe = _path.Packet.of(rule, local=[ipaddress.ip_address(address) for address in LOCAL[family]])
            judgement = _path.judge(_path.filters(tables, family, rule.direction), probe)
            witness = _path.describe_witness(judgement.witness) if judgement.witness is not None else None
            found[(family, rule.direction, rule.message)] = (judgement.verdict, witness and witness["chain"])
    return found


def test_the_owned_rules_are_read_back_from_firewalds_nft_table():
    opened = _firewalld.kernel_owned_rules(firewalld_ruleset("opened").chains.values())
    expected = {_firewalld.rich_rule(family, direction, message, LOCAL[family][0])
                for family in ("ipv4", "ipv6") for direction in ("in", "out")
                for message in ("echo-request", "echo-reply")}
    assert opened == expected
    assert _firewalld.kernel_owned_rules(firewalld_ruleset("hardened").chains.values()) == set()


def test_the_path_model_reads_firewalds_table_as_the_kernel_does():
    hardened = firewalld_verdicts("hardened")
    # new requests: the zone's deny drops them in, the lab's policy out; a reply to a
    # request that went out is conntrack's, as it is on the machine
    for family in ("ipv4", "ipv6"):
        assert hardened[(family, "in", "echo-request")][1] == "filter_IN_public_deny"
        assert hardened[(family, "in", "echo-request")][0] != "accept"
        assert hardened[(family, "out", "echo-request")] == ("drop", "filter_OUT_policy_lab-echo-out_deny")
    opened = firewalld_verdicts("opened")
    assert {verdict for verdict, _witness in opened.values()} == {"accept"}, opened


@pytest.mark.parametrize("chain,rule,terms", [
    ("filter_IN_public_deny", "icmp type echo-request drop",
     "zone public, its ICMP blocks and its rich rules that drop or reject: icmp type echo-request drop"),
    ("filter_OUT_policy_lab-echo-out_deny", "icmpv6 type echo-request drop",
     "policy lab-echo-out, its ICMP blocks and its rich rules that drop or reject: icmpv6 type echo-request drop"),
    ("filter_IN_policy_allow-host-ipv6_pre", "icmpv6 type echo-request drop",
     "policy allow-host-ipv6, its rich rules of negative priority: icmpv6 type echo-request drop"),
    ("filter_IN_public", "reject with icmpx admin-prohibited", "zone public, its target"),
    ("filter_INPUT", "ct state invalid drop",
     "firewalld's own rules before any zone or policy (filter_INPUT: ct state invalid drop)"),
])
def test_what_drops_a_probe_is_named_in_firewalds_terms(chain, rule, terms):
    assert _firewalld.in_firewalds_terms({"table": "inet firewalld", "chain": chain, "rule": rule}) == terms
    assert _firewalld.in_firewalds_terms({"table": "inet filter", "chain": chain, "rule": rule}) is None
