"""The collection as users get it, on the newest ansible-core supported today.

The tarball `ansible-galaxy collection build` makes is installed with `ansible-galaxy
collection install` into a home of its own, and run from a directory that holds nothing
but the lab's inventory: no ansible.cfg, no checkout on any collection path, no
ANSIBLE_* variable. There the site playbook turns the feature on as antrea-agent.conf
says (a real ping passes), the README's ad-hoc probe measures every peer, and the site
playbook turns it off again as the file says (the rulesets are as they were). The controller is ansible-core 2.21 on Python 3.13,
from the compat layer's virtual environment (scripts/compat-venv.sh makes it if absent).
The nodes run iptables-legacy in hybrid mode: the role's rules go on both interfaces, in
the legacy tables and nowhere else.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from ansible_collections.nodelatency.monitor.tests.unit.fixtures import antrea_agent_conf
from nlmlab import REPO

pytestmark = pytest.mark.lab

NEWEST = ("2.21", "3.13")


@pytest.fixture(scope="module")
def newest_bin():
    made = subprocess.run([str(REPO / "scripts" / "compat-venv.sh"), *NEWEST], capture_output=True, text=True,
                          timeout=900, check=False)
    assert made.returncode == 0, made.stderr
    return os.path.join(made.stdout.strip(), "bin")


@pytest.fixture(scope="module")
def user(newest_bin, tmp_path_factory):
    """run(program, *args): a command as the user runs it, in their own home and directory."""
    root = tmp_path_factory.mktemp("user")
    home, work = root / "home", root / "work"
    home.mkdir()
    work.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update({"HOME": str(home), "PATH": newest_bin + os.pathsep + "/usr/sbin:/usr/bin:/sbin:/bin",
                "ANSIBLE_NOCOLOR": "1"})

    def run(program, *args, timeout=300):
        return subprocess.run([os.path.join(newest_bin, program), *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=timeout, check=False)

    run.home, run.work = home, work
    return run


@pytest.fixture(scope="module")
def installed(user, tmp_path_factory):
    build = tmp_path_factory.mktemp("build")
    built = user("ansible-galaxy", "collection", "build", "--output-path", str(build), str(REPO))
    assert built.returncode == 0, built.stdout + built.stderr
    tarball, = build.glob("nodelatency-monitor-*.tar.gz")
    result = user("ansible-galaxy", "collection", "install", str(tarball))
    assert result.returncode == 0, result.stdout + result.stderr
    listed = user("ansible-galaxy", "collection", "list", "nodelatency.monitor", "--format", "json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    # one copy, in the user's home: the checkout is on no collection path
    assert list(json.loads(listed.stdout)) == [str(user.home / ".ansible" / "collections" / "ansible_collections")]
    return tarball


def test_site_playbook_and_ad_hoc_probe_from_the_installed_tarball(installed, user, module_lab_factory,
                                                                   saved_rulesets, owned_accept_rules):
    """The toggle read from antrea-agent.conf as Antrea's chart renders it, as the agent
    reads it: on through the alpha toggle (the gate itself unset) with the mode spelt
    Hybrid, off with the chart's defaults."""
    lab = module_lab_factory(nodes=2, firewall="iptables-legacy", mode="hybrid")
    (user.work / "inventory.yml").write_text(lab.inventory_path.read_text())
    n1, n2 = lab.nodes
    before = saved_rulesets(lab)
    assert not lab.ping(n1, n2.gateway_ipv4, count=1, timeout=1.0)

    def agent_conf(gates):
        return antrea_agent_conf.render(feature_gates=gates, traffic_encap_mode="Hybrid", transport_interface="eth0")

    # the inventory's per-host mode and interface are left to the agent configuration
    common = {"nlm_enabled": "auto", "nlm_traffic_mode": "auto", "nlm_transport_interface": ""}
    (user.work / "antrea-agent.conf").write_text(agent_conf({"AllAlpha": True}))
    (user.work / "on.json").write_text(json.dumps({**common, "nlm_antrea_agent_conf": "antrea-agent.conf"}))
    on = user("ansible-playbook", "-i", "inventory.yml", "nodelatency.monitor.site", "-e", "@on.json")
    assert on.returncode == 0, on.stdout[-5000:] + on.stderr[-3000:]
    assert lab.ping(n1, n2.gateway_ipv4, count=1, timeout=1.0)
    assert lab.ping(n2, n1.gateway_ipv6, count=1, timeout=1.0)
    assert lab.ping(n1, n2.transport_ipv4, count=1, timeout=1.0)
    for ruleset in saved_rulesets(lab).values():
        rules = owned_accept_rules(ruleset)
        # hybrid: the four rules on the gateway and on the transport interface
        assert len(rules) == 8, ruleset
        assert len([rule for rule in rules if " -i eth0 " in rule or " -o eth0 " in rule]) == 4
        assert len([rule for rule in rules if " -i antrea-gw0 " in rule or " -o antrea-gw0 " in rule]) == 4
    for node in lab.nodes:
        for save in ("iptables-nft-save", "ip6tables-nft-save"):
            assert not owned_accept_rules(lab.run(node, [save]).stdout), (node.name, save)

    # the README's ad-hoc command: every peer answers, on both families
    probe = user("ansible", "all", "-i", "inventory.yml", "-m", "nodelatency.monitor.nlm_probe", "-a", "count=2")
    assert probe.returncode == 0, probe.stdout[-5000:] + probe.stderr[-3000:]
    for node in lab.nodes:
        result = json.loads(re.search(r"^%s \| SUCCESS => (\{.*?^\})$" % node.name, probe.stdout, re.M | re.S).group(1))
        targets = [target for peer in result["ansible_facts"]["nlm_latency"]["peers"] for target in peer["targets"]]
        assert len(targets) == 2 and all(target["loss"] == 0.0 for target in targets), result

    # the configuration given as content this time
    (user.work / "off.json").write_text(json.dumps({**common, "nlm_antrea_agent_conf": agent_conf({})}))
    off = user("ansible-playbook", "-i", "inventory.yml", "nodelatency.monitor.site", "-e", "@off.json")
    assert off.returncode == 0, off.stdout[-5000:] + off.stderr[-3000:]
    assert saved_rulesets(lab) == before
    assert not lab.ping(n1, n2.gateway_ipv4, count=1, timeout=1.0)
