"""nlm_probe action plugin: peers and their addresses from hand-made host variables,
and through Ansible's own inventory, variable manager and templating."""

from __future__ import annotations

import math
import random
import socket
from unittest.mock import MagicMock

import pytest
import yaml
from ansible.errors import AnsibleActionFail
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible.vars.hostvars import HostVars
from ansible.vars.manager import VariableManager

from ansible_collections.nodelatency.monitor.plugins.action import nlm_probe as action
from ansible_collections.nodelatency.monitor.plugins.module_utils import _agent
from ansible_collections.nodelatency.monitor.plugins.plugin_utils import _peer_addresses as peer_address_resolution

LAB_HOST = {
    "nlm_traffic_mode": "encap",
    "nlm_gateway_ipv4": "198.19.2.1",
    "nlm_gateway_ipv6": "2001:db8:1:2::1",
    "nlm_transport_ipv4": "198.18.0.12",
    "nlm_transport_ipv6": "2001:db8::c",
}
NLM_FACTS = {"nlm": {
    "gateway_interface": {"name": "antrea-gw0", "exists": True, "ipv4": ["198.19.7.1/24"], "ipv6": ["2001:db8:1:7::1/64"]},
    "transport_interface": {"name": "eth0", "exists": True, "ipv4": ["198.18.0.17/24"], "ipv6": []},
}}
DEFAULT_FACTS = {"default_ipv4": {"address": "198.18.5.5"}, "default_ipv6": {"address": "2001:db8:5::5"}}


@pytest.mark.parametrize("host_vars, target, expected", [
    (LAB_HOST, "auto", ["198.19.2.1", "2001:db8:1:2::1"]),
    (dict(LAB_HOST, nlm_traffic_mode="noEncap"), "auto", ["198.19.2.1", "2001:db8:1:2::1"]),
    (dict(LAB_HOST, nlm_traffic_mode="hybrid"), "auto", ["198.19.2.1", "2001:db8:1:2::1"]),
    (dict(LAB_HOST, nlm_traffic_mode="networkPolicyOnly"), "auto", ["198.18.0.12", "2001:db8::c"]),
    (LAB_HOST, "transport", ["198.18.0.12", "2001:db8::c"]),
    (dict(LAB_HOST, nlm_traffic_mode="networkPolicyOnly"), "gateway", ["198.19.2.1", "2001:db8:1:2::1"]),
    (dict(LAB_HOST, nlm_probe_address="198.18.9.9"), "auto", ["198.18.9.9"]),
    (dict(LAB_HOST, nlm_probe_address=["198.18.9.9", "2001:db8:9::9"]), "transport", ["198.18.9.9", "2001:db8:9::9"]),
    ({"ansible_facts": NLM_FACTS}, "gateway", ["198.19.7.1", "2001:db8:1:7::1"]),
    ({"ansible_facts": NLM_FACTS}, "transport", ["198.18.0.17"]),
    ({"ansible_facts": dict(NLM_FACTS, **DEFAULT_FACTS)}, "transport", ["198.18.0.17", "2001:db8:5::5"]),
    ({"ansible_facts": DEFAULT_FACTS, "ansible_host": "198.18.6.6"}, "auto", ["198.18.5.5", "2001:db8:5::5"]),
    ({"ansible_host": "198.18.6.6"}, "auto", ["198.18.6.6"]),
    ({"ansible_host": "2001:DB8::6"}, "auto", ["2001:db8::6"]),
    ({"ansible_host": "node6.example.org"}, "auto", []),
    ({"nlm_gateway_ipv4": "198.19.2.1", "ansible_facts": DEFAULT_FACTS}, "gateway", ["198.19.2.1", "2001:db8:5::5"]),
    ({}, "auto", []),
])
def test_peer_addresses_in_order_of_sources(host_vars, target, expected):
    assert action.peer_addresses("n2", host_vars, target) == expected


# What the controller's resolver knows in these tests: nothing else resolves, and no test
# asks the real one.
NAMES = {"node6.example.org": ["198.18.6.60", "2001:db8:6::60", "198.18.6.61"], "n5": ["fe80::5%eth0", "198.18.5.50"]}


@pytest.fixture(autouse=True)
def resolver(monkeypatch):
    def getaddrinfo(name, port, type=0):  # pylint: disable=redefined-builtin
        if name not in NAMES:
            raise socket.gaierror(-2, "Name or service not known")
        return [(socket.AF_INET6 if ":" in address else socket.AF_INET, type, 0, "", (address, 0))
                for address in NAMES[name]]
    monkeypatch.setattr(peer_address_resolution.socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("host, host_vars, versions, expected", [
    ("n6", {"ansible_host": "node6.example.org"}, (4, 6), ["198.18.6.60", "2001:db8:6::60"]),
    ("n6", {"ansible_host": "node6.example.org"}, (6,), ["2001:db8:6::60"]),
    # no ansible_host: the inventory name itself; a zone index is not part of the address
    ("n5", {}, (4, 6), ["198.18.5.50", "fe80::5"]),
    ("n7", {"ansible_host": "node7.example.org"}, (4, 6), []),
    ("n7", {"ansible_host": "198.18.7.7"}, (4, 6), []),
])
def test_a_name_is_resolved_on_the_controller_as_the_last_source(host, host_vars, versions, expected):
    assert peer_address_resolution.addresses_by_name(host, host_vars, versions) == expected


EXPLICIT = {"nlm_probe_address": ["2001:db8:9::9", "198.18.9.9", "node9.example.org"]}


@pytest.mark.parametrize(("host_vars", "versions", "expected"), [
    (LAB_HOST, (4,), ["198.19.2.1"]),
    (LAB_HOST, (6,), ["2001:db8:1:2::1"]),
    (LAB_HOST, (4, 6), ["198.19.2.1", "2001:db8:1:2::1"]),
    # a name is passed on, for the module to report it for that target alone
    (EXPLICIT, (4,), ["198.18.9.9", "node9.example.org"]),
    (EXPLICIT, (6,), ["2001:db8:9::9", "node9.example.org"]),
])
def test_peer_addresses_of_the_asked_families_only(host_vars, versions, expected):
    assert action.peer_addresses("n2", host_vars, "auto", versions) == expected


def test_auto_without_traffic_mode_prefers_known_gateway_addresses():
    assert peer_address_resolution.address_kind("n2", {"ansible_facts": NLM_FACTS}, "auto") == "gateway"
    assert peer_address_resolution.address_kind("n2", {"nlm_transport_ipv4": "198.18.0.12"}, "auto") == "transport"


def test_unknown_traffic_mode_names_the_host():
    with pytest.raises(AnsibleActionFail, match="host n2 has nlm_traffic_mode 'overlay'; use encap, noEncap"):
        action.peer_addresses("n2", dict(LAB_HOST, nlm_traffic_mode="overlay"), "auto")


GROUPS = {"all": ["n1", "n2", "n3", "n4"], "workers": ["n3", "n4"], "ungrouped": []}


@pytest.mark.parametrize("peers, expected", [
    (None, ["n2", "n3"]),
    ("workers", ["n3", "n4"]),
    (["n4", "n1", "n2", "n4"], ["n4", "n2"]),
])
def test_select_peers_leaves_this_host_out(peers, expected):
    assert action.select_peers("n1", ["n1", "n2", "n3"], peers, GROUPS) == expected


@pytest.mark.parametrize("peers, message", [
    ("nosuchgroup", "peers names group 'nosuchgroup', which the inventory does not have"),
    (["n2", "n9", "n8"], "peers lists hosts the inventory does not have: n9, n8"),
    (5, "peers must be a group name or a list of host names"),
])
def test_select_peers_rejects_unknown(peers, message):
    with pytest.raises(AnsibleActionFail, match=message):
        action.select_peers("n1", ["n1"], peers, GROUPS)


HOSTS = ["n%d" % index for index in range(1, 24)]


def others(host, hosts=HOSTS):
    return [name for name in hosts if name != host]


@pytest.mark.parametrize("max_peers", [1, 4, 7])
def test_sampled_peers_are_the_agents_ring_sample(max_peers):
    for host in HOSTS:
        assert set(action.sampled_peers(host, others(host), max_peers)) == set(
            _agent.sample_peers(host, HOSTS, max_peers))


@pytest.mark.parametrize("max_peers", [1, 4, 7])
def test_sampled_peers_are_the_same_in_every_run_and_inventory_order(max_peers):
    shuffled = list(HOSTS)
    random.Random(18).shuffle(shuffled)
    for host in HOSTS:
        sample = action.sampled_peers(host, others(host), max_peers)
        assert len(sample) == len(set(sample)) == max_peers
        assert sample == action.sampled_peers(host, others(host), max_peers)
        assert sample == action.sampled_peers(host, others(host), max_peers, 0)
        reordered = action.sampled_peers(host, others(host, shuffled), max_peers)
        # the same peers, listed in the inventory's order
        assert set(reordered) == set(sample)
        assert reordered == [name for name in shuffled if name in sample]


@pytest.mark.parametrize("rotation", [None, 0, 1, 5, -3])
@pytest.mark.parametrize("max_peers", [1, 4, 7])
def test_every_host_is_probed_by_max_peers_others(max_peers, rotation):
    probed_by = dict((host, []) for host in HOSTS)
    for host in HOSTS:
        for peer in action.sampled_peers(host, others(host), max_peers, rotation):
            probed_by[peer].append(host)
    assert all(len(probers) == max_peers for probers in probed_by.values()), probed_by


@pytest.mark.parametrize("max_peers", [1, 4, 7, 21])
def test_successive_rotations_cover_every_peer(max_peers):
    for host in HOSTS:
        peers = others(host)
        rotations = math.ceil(len(peers) / max_peers)
        covered = set()
        for rotation in range(100, 100 + rotations):
            subset = action.sampled_peers(host, peers, max_peers, rotation)
            assert len(subset) == len(set(subset)) == max_peers
            covered.update(subset)
        assert covered == set(peers)
    peers = others("n1")
    assert action.sampled_peers("n1", peers, 4, 5) != action.sampled_peers("n1", peers, 4, 6)


def test_one_rotation_moves_the_window_by_max_peers_along_the_ring():
    peers = others("n1")
    stable = _agent.sample_peers("n1", HOSTS, 12)
    assert set(action.sampled_peers("n1", peers, 4, 1)) == set(stable[4:8])
    assert set(action.sampled_peers("n1", peers, 4, 2)) == set(stable[8:12])


@pytest.mark.parametrize("max_peers", [0, 22, 50])
def test_sampled_peers_without_limit_is_everyone_in_order(max_peers):
    peers = others("n1")
    assert action.sampled_peers("n1", peers, max_peers, 3) == peers


LOADER = DataLoader()


def make_action(args):
    task = MagicMock()
    task.args = args
    task.async_val = 0
    task.check_mode = False
    plugin = action.ActionModule(task, MagicMock(), MagicMock(), loader=LOADER, templar=Templar(loader=LOADER),
                                 shared_loader_obj=None)
    plugin._execute_module = MagicMock(return_value={"changed": False, "ansible_facts": {"nlm_latency": {}}})
    return plugin


@pytest.fixture
def task_vars(tmp_path):
    """task_vars(hosts, facts=None, group_vars=None): the task variables of n1 in an inventory of
    ``hosts`` ({name: host variables}), with ``facts`` ({name: ansible_facts}) set as a fact
    module would; hostvars is Ansible's own, so peers' variables are templated as in a play."""
    def build(hosts, facts=None, group_vars=None):
        path = tmp_path / "inventory.yml"
        path.write_text(yaml.safe_dump({"all": {"hosts": hosts, "vars": group_vars or {}}}))
        inventory = InventoryManager(loader=LOADER, sources=[str(path)])
        variables = VariableManager(loader=LOADER, inventory=inventory)
        for host, host_facts in (facts or {}).items():
            variables.set_host_facts(host, host_facts)
        return {
            "inventory_hostname": "n1",
            "ansible_play_hosts_all": list(hosts),
            "groups": {"all": list(hosts)},
            "hostvars": HostVars(inventory=inventory, variable_manager=variables, loader=LOADER),
        }
    return build


def lab_host(index, **extra):
    host = {"nlm_traffic_mode": "encap", "nlm_gateway_ipv4": "198.19.%d.1" % index,
            "nlm_gateway_ipv6": "2001:db8:1:%d::1" % index}
    host.update(extra)
    return host


def test_run_resolves_peers_and_passes_only_module_options(task_vars):
    plugin = make_action({"count": 5})
    hosts = {"n1": lab_host(1), "n2": lab_host(2), "n3": lab_host(3)}
    result = plugin.run(task_vars=task_vars(hosts))
    assert result["ansible_facts"] == {"nlm_latency": {}}
    module_args = plugin._execute_module.call_args.kwargs["module_args"]
    assert module_args["targets"] == [
        {"name": "n2", "address": ["198.19.2.1", "2001:db8:1:2::1"]},
        {"name": "n3", "address": ["198.19.3.1", "2001:db8:1:3::1"]},
    ]
    assert module_args["name"] == "n1"
    assert module_args["count"] == 5
    assert not set(action.ACTION_OPTIONS) & set(module_args)


def test_run_with_unresolved_peers_fails_naming_them_all(task_vars):
    plugin = make_action({})
    hosts = {"n1": lab_host(1), "n2": {}, "n3": lab_host(3), "n4": {"ansible_host": "n4.example.org"}}
    with pytest.raises(AnsibleActionFail, match="no address known for n2, n4; set nlm_probe_address"):
        plugin.run(task_vars=task_vars(hosts))
    plugin._execute_module.assert_not_called()


def test_run_skips_unresolved_peers_with_a_warning_each(task_vars):
    plugin = make_action({"skip_unresolved": True})
    hosts = {"n1": lab_host(1), "n2": {}, "n3": lab_host(3), "n4": {}}
    result = plugin.run(task_vars=task_vars(hosts))
    assert result["warnings"] == ["nlm_probe: skipping n2: no address known", "nlm_probe: skipping n4: no address known"]
    assert [target["name"] for target in plugin._execute_module.call_args.kwargs["module_args"]["targets"]] == ["n3"]


def test_run_resolves_names_on_the_controller_last_and_says_so(task_vars):
    plugin = make_action({})
    hosts = {"n1": lab_host(1), "n6": {"ansible_host": "node6.example.org"}, "n3": lab_host(3)}
    result = plugin.run(task_vars=task_vars(hosts))
    targets = plugin._execute_module.call_args.kwargs["module_args"]["targets"]
    assert {"name": "n6", "address": ["198.18.6.60", "2001:db8:6::60"]} in targets
    assert result["warnings"] == [
        "nlm_probe: no variable or fact gives an address of n6 (198.18.6.60, 2001:db8:6::60): resolved their names "
        "on the controller; set nlm_probe_address or gather facts (nodelatency.monitor.nlm_facts) to choose the address"]


def test_run_with_explicit_targets_does_not_look_at_the_inventory(task_vars):
    plugin = make_action({"targets": ["198.18.0.99"], "name": "prober"})
    result = plugin.run(task_vars=task_vars({"n1": {}, "n2": {}}))
    assert "warnings" not in result
    module_args = plugin._execute_module.call_args.kwargs["module_args"]
    assert (module_args["targets"], module_args["name"]) == (["198.18.0.99"], "prober")


@pytest.mark.parametrize("rotation", [None, 7])
def test_run_max_peers_probes_a_sample(task_vars, rotation):
    args = {"max_peers": 2} if rotation is None else {"max_peers": 2, "rotation": rotation}
    hosts = dict(("n%d" % index, lab_host(index)) for index in range(1, 11))
    runs = []
    for _run in range(2):
        plugin = make_action(dict(args))
        plugin.run(task_vars=task_vars(hosts))
        runs.append([target["name"] for target in plugin._execute_module.call_args.kwargs["module_args"]["targets"]])
    assert runs[0] == runs[1] == action.sampled_peers("n1", ["n%d" % index for index in range(2, 11)], 2, rotation)


def test_run_rejects_bad_option_values_on_the_controller(task_vars):
    plugin = make_action({"target": "pods"})
    with pytest.raises(AnsibleActionFail, match="target"):
        plugin.run(task_vars=task_vars({"n1": {}}))
    plugin._execute_module.assert_not_called()


@pytest.mark.parametrize("args", [
    {"targets": ["198.18.0.99"], "peers": "all"},
    {"targets": ["198.18.0.99"], "max_peers": 2},
])
def test_explicit_targets_exclude_peer_selection(args, task_vars):
    plugin = make_action(args)
    with pytest.raises(AnsibleActionFail, match="mutually exclusive: targets"):
        plugin.run(task_vars=task_vars({"n1": {}}))
    plugin._execute_module.assert_not_called()


def test_run_templates_peer_variables_in_the_peers_context_and_reads_group_variables(task_vars):
    plugin = make_action({"ip_versions": ["ipv4"]})
    hosts = {"n1": lab_host(1),
             "n2": {"gateway_prefix": "198.19.2", "nlm_gateway_ipv4": "{{ gateway_prefix }}.1"},
             "n3": {"gateway_prefix": "198.19.3", "nlm_gateway_ipv4": "{{ gateway_prefix }}.1"}}
    plugin.run(task_vars=task_vars(hosts, group_vars={"nlm_traffic_mode": "noEncap"}))
    assert plugin._execute_module.call_args.kwargs["module_args"]["targets"] == [
        {"name": "n2", "address": ["198.19.2.1"]}, {"name": "n3", "address": ["198.19.3.1"]}]


def test_run_templates_peer_variables_inside_lists_and_leaves_plain_ones_as_they_are(task_vars):
    plugin = make_action({})
    hosts = {"n1": lab_host(1),
             "n2": {"gateway_prefix": "198.19.2", "nlm_probe_address": ["{{ gateway_prefix }}.1", "2001:db8:1:2::1"]},
             "n3": {"nlm_probe_address": ["198.19.3.1"]}}
    plugin.run(task_vars=task_vars(hosts))
    assert plugin._execute_module.call_args.kwargs["module_args"]["targets"] == [
        {"name": "n2", "address": ["198.19.2.1", "2001:db8:1:2::1"]}, {"name": "n3", "address": ["198.19.3.1"]}]


def test_run_does_not_render_template_text_in_a_peers_facts(task_vars):
    """Facts are what a node reported: template text in them is not an address and stays unrendered."""
    plugin = make_action({"skip_unresolved": True})
    facts = {"n2": {"default_ipv4": {"address": "{{ '198.19.2.1' }}"}}}
    result = plugin.run(task_vars=task_vars({"n1": {}, "n2": {}}, facts=facts))
    assert plugin._execute_module.call_args.kwargs["module_args"]["targets"] == []
    assert result["warnings"] == ["nlm_probe: skipping n2: no address known"]


def test_run_takes_addresses_from_facts_beside_an_earlier_probe_result(task_vars):
    plugin = make_action({"target": "gateway"})
    earlier = {"source": "n2", "peers": [{"name": "n%d" % index, "targets": [{"address": "198.19.%d.1" % index,
                                                                              "rtts_ms": [0.05] * 3}]}
                                         for index in range(3, 60)]}
    plugin.run(task_vars=task_vars({"n1": {}, "n2": {}, "n3": {}},
                                   facts={"n2": dict(NLM_FACTS, nlm_latency=earlier), "n3": DEFAULT_FACTS}))
    assert plugin._execute_module.call_args.kwargs["module_args"]["targets"] == [
        {"name": "n2", "address": ["198.19.7.1", "2001:db8:1:7::1"]},
        {"name": "n3", "address": ["198.18.5.5", "2001:db8:5::5"]}]


class CountingHostVars:
    """Ansible's hostvars, counting the look-ups of each peer."""

    def __init__(self, hostvars):
        self.hostvars = hostvars
        self.looked_up = []

    def raw_get(self, host):
        self.looked_up.append(host)
        return self.hostvars.raw_get(host)


@pytest.fixture
def shared(tmp_path, monkeypatch):
    directory = tmp_path / "ansible-local"
    directory.mkdir()
    monkeypatch.setattr(action, "shared_directory", lambda: str(directory))
    return directory


def forks_of_one_task(task_vars, hosts, args, task_id="task-uuid-1", strategy="linear", batches=None):
    """Run the action as the forks of one ansible process do: one plugin per host, the same task,
    batch after batch (serial). A fork that fails has the message as its targets."""
    variables = task_vars(hosts)
    counting = CountingHostVars(variables["hostvars"])
    targets = {}
    warnings = {}
    batch_of = dict((host, batch) for batch in (batches or [list(hosts)]) for host in batch)
    for host in hosts:
        plugin = make_action(dict(args))
        plugin._task._uuid = task_id
        plugin._task.get_play.return_value.strategy = strategy
        try:
            result = plugin.run(task_vars=dict(variables, inventory_hostname=host, hostvars=counting,
                                               ansible_play_batch=batch_of[host]))
        except AnsibleActionFail as err:
            targets[host] = str(err)
            continue
        targets[host] = plugin._execute_module.call_args.kwargs["module_args"]["targets"]
        warnings[host] = result.get("warnings", [])
    return targets, warnings, counting.looked_up


def test_the_forks_of_one_task_read_each_peer_once(task_vars, shared):
    hosts = dict(("n%d" % index, lab_host(index)) for index in range(1, 7))
    targets, _warnings, looked_up = forks_of_one_task(task_vars, hosts, {})
    assert sorted(looked_up) == sorted(hosts)
    for host in hosts:
        assert targets[host] == [{"name": peer, "address": ["198.19.%s.1" % peer[1:], "2001:db8:1:%s::1" % peer[1:]]}
                                 for peer in hosts if peer != host]
    # what the first fork left is a whole book, written in one step
    assert [path.name.startswith("nlm_probe-peers-") for path in shared.iterdir()] == [True]


def test_shared_peers_give_the_same_targets_and_warnings_as_each_fork_alone(task_vars, shared, tmp_path):
    hosts = {"n1": lab_host(1), "n2": {}, "n3": lab_host(3), "n6": {"ansible_host": "node6.example.org"}}
    args = {"skip_unresolved": True, "max_peers": 2}
    together = forks_of_one_task(task_vars, hosts, args)
    alone = forks_of_one_task(task_vars, hosts, args, task_id=None)
    assert together[:2] == alone[:2]
    assert len(alone[2]) == len(hosts) ** 2 and len(together[2]) == len(hosts)
    assert together[1]["n3"] == ["nlm_probe: skipping n2: no address known",
                                 "nlm_probe: no variable or fact gives an address of n6 (198.18.6.60, 2001:db8:6::60): "
                                 "resolved their names on the controller; set nlm_probe_address or gather facts "
                                 "(nodelatency.monitor.nlm_facts) to choose the address"]


def test_another_task_or_other_options_read_the_peers_again(task_vars, shared):
    hosts = dict(("n%d" % index, lab_host(index, nlm_transport_ipv4="198.18.0.%d" % index)) for index in range(1, 4))
    forks_of_one_task(task_vars, hosts, {})
    _targets, _warnings, looked_up = forks_of_one_task(task_vars, hosts, {}, task_id="task-uuid-2")
    assert sorted(looked_up) == sorted(hosts)
    targets, _warnings, looked_up = forks_of_one_task(task_vars, hosts, {"target": "transport", "ip_versions": ["ipv4"]},
                                                      task_id="task-uuid-2")
    assert sorted(looked_up) == sorted(hosts)
    assert targets["n1"] == [{"name": "n2", "address": ["198.18.0.2"]}, {"name": "n3", "address": ["198.18.0.3"]}]
    assert len(list(shared.iterdir())) == 3


@pytest.mark.parametrize("strategy", [None, "ansible.builtin.linear"])
def test_the_default_and_named_linear_strategy_share(task_vars, shared, strategy):
    hosts = {"n1": lab_host(1), "n2": lab_host(2), "n3": lab_host(3)}
    _targets, _warnings, looked_up = forks_of_one_task(task_vars, hosts, {}, strategy=strategy)
    assert sorted(looked_up) == sorted(hosts)


@pytest.mark.parametrize("strategy", ["free", "host_pinned", "ansible.builtin.free"])
def test_hosts_that_reach_the_task_at_their_own_pace_read_the_peers_themselves(task_vars, shared, strategy):
    hosts = {"n1": lab_host(1), "n2": lab_host(2), "n3": lab_host(3)}
    alone = forks_of_one_task(task_vars, hosts, {}, task_id=None)
    targets, _warnings, looked_up = forks_of_one_task(task_vars, hosts, {}, strategy=strategy)
    assert len(looked_up) == len(hosts) ** 2
    assert targets == alone[0]
    assert not list(shared.iterdir())


def test_each_serial_batch_reads_the_peers_again(task_vars, shared):
    hosts = dict(("n%d" % index, lab_host(index)) for index in range(1, 5))
    _targets, _warnings, looked_up = forks_of_one_task(task_vars, hosts, {}, batches=[["n1", "n2"], ["n3", "n4"]])
    assert sorted(looked_up) == sorted(list(hosts) * 2)


@pytest.mark.parametrize("bad, message", [
    ({"nlm_traffic_mode": "overlay"}, "host n5 has nlm_traffic_mode 'overlay'"),
    ({"nlm_gateway_ipv4": "{{ no_such_variable }}.1"}, "cannot work out the addresses of host n5: 'no_such_variable'"),
])
def test_a_peer_with_a_bad_variable_fails_only_the_forks_that_probe_it(task_vars, shared, bad, message):
    hosts = dict(("n%d" % index, lab_host(index)) for index in range(1, 6))
    hosts["n5"].update(bad)
    targets, _warnings, looked_up = forks_of_one_task(task_vars, hosts, {"max_peers": 1})
    failed = [host for host, value in targets.items() if isinstance(value, str)]
    assert failed == [host for host in hosts if action.sampled_peers(host, others(host, list(hosts)), 1) == ["n5"]]
    assert len(failed) == 1
    assert message in targets[failed[0]]
    # the others went on with the book the first fork shared
    assert sorted(looked_up) == sorted(hosts)
    assert len(list(shared.iterdir())) == 1


def test_an_unusable_shared_directory_leaves_each_fork_to_itself(task_vars, shared, monkeypatch):
    monkeypatch.setattr(action, "shared_directory", lambda: str(shared / "gone"))
    hosts = {"n1": lab_host(1), "n2": lab_host(2), "n3": lab_host(3)}
    targets, _warnings, looked_up = forks_of_one_task(task_vars, hosts, {})
    assert len(looked_up) == len(hosts) ** 2
    assert targets["n1"] == [{"name": "n2", "address": ["198.19.2.1", "2001:db8:1:2::1"]},
                             {"name": "n3", "address": ["198.19.3.1", "2001:db8:1:3::1"]}]


def test_a_damaged_shared_book_is_read_again_from_the_inventory(task_vars, shared):
    hosts = {"n1": lab_host(1), "n2": lab_host(2), "n3": lab_host(3)}
    forks_of_one_task(task_vars, hosts, {})
    (book,) = shared.iterdir()
    book.write_text('{"n2": {"address": ["198.18')
    targets, _warnings, looked_up = forks_of_one_task(task_vars, hosts, {})
    assert sorted(looked_up) == sorted(hosts)
    assert targets["n3"] == [{"name": "n1", "address": ["198.19.1.1", "2001:db8:1:1::1"]},
                             {"name": "n2", "address": ["198.19.2.1", "2001:db8:1:2::1"]}]


def test_the_invocation_shows_the_options_given_not_the_targets_worked_out(task_vars):
    plugin = make_action({"count": 5, "peers": "all"})
    plugin._execute_module.return_value = {"changed": False, "ansible_facts": {"nlm_latency": {}}, "invocation": {
        "module_args": {"count": 5, "targets": [{"name": "n2", "address": ["198.19.2.1"]}], "name": "n1"}}}
    result = plugin.run(task_vars=task_vars({"n1": lab_host(1), "n2": lab_host(2)}))
    shown = result["invocation"]["module_args"]
    assert (shown["count"], shown["peers"], shown["targets"], shown["name"]) == (5, "all", None, None)
    assert set(shown) == set(action.ActionModule._VALID_ARGS)


def test_the_invocation_of_explicit_targets_is_the_modules(task_vars):
    plugin = make_action({"targets": ["198.18.0.99"]})
    invocation = {"module_args": {"targets": ["198.18.0.99"], "name": "n1", "count": 3}}
    plugin._execute_module.return_value = {"changed": False, "ansible_facts": {"nlm_latency": {}},
                                           "invocation": invocation}
    assert plugin.run(task_vars=task_vars({"n1": {}}))["invocation"] == invocation
