"""Fixtures shared by the lab integration tests.

``lab_factory`` (per test) and ``module_lab_factory`` (per test module) bring up
labs with names of their own, so that a test never touches the lab of ``make lab-up``
or of another test run, and take them down afterwards even when the test fails.
``run_ansible`` runs the venv's ansible with the repository's ansible.cfg.
``ping_all`` and ``allow_echo`` are the lab tests' own probes and rules.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import secrets
import subprocess

import pytest

import nlmlab  # lab/ is on the path through pytest.ini

REPO = nlmlab.REPO
VENV_BIN = REPO / ".venv" / "bin"


class LabFactory:
    """Brings up labs on demand and remembers them so that they can all be taken down."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp_path_factory = tmp_path_factory
        self.labs: list[nlmlab.Lab] = []

    def __call__(self, **kwargs) -> nlmlab.Lab:
        if os.geteuid() != 0:
            pytest.fail("the lab integration tests must run as root: they create network namespaces")
        name = kwargs.pop("name", None) or "t" + secrets.token_hex(3)
        state_dir = kwargs.pop("state_dir", None) or self._tmp_path_factory.mktemp(f"lab-{name}")
        lab = nlmlab.Lab(name=name, state_dir=state_dir, **kwargs)
        self.labs.append(lab)
        return lab.up()

    def teardown(self) -> None:
        errors = []
        for lab in reversed(self.labs):
            try:
                lab.down()
            except Exception as error:  # keep taking the other labs down
                errors.append(f"{lab.name}: {error}")
        self.labs.clear()
        if errors:
            raise RuntimeError("lab teardown failed: " + "; ".join(errors))


@pytest.fixture
def lab_factory(tmp_path_factory):
    factory = LabFactory(tmp_path_factory)
    try:
        yield factory
    finally:
        factory.teardown()


@pytest.fixture(scope="module")
def module_lab_factory(tmp_path_factory):
    factory = LabFactory(tmp_path_factory)
    try:
        yield factory
    finally:
        factory.teardown()


@pytest.fixture(scope="session")
def ansible_environment() -> dict[str, str]:
    """Environment under which ansible (also when testinfra starts it) uses this checkout."""
    return {
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


@pytest.fixture(scope="session")
def run_ansible(ansible_environment):
    """run_ansible(args, inventory, program="ansible") runs ansible, ansible-playbook or ansible-inventory."""

    def run(args: list[str], inventory, program: str = "ansible", timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([str(VENV_BIN / program), "-i", str(inventory), *args], cwd=REPO,
                              env={**os.environ, **ansible_environment}, capture_output=True, text=True,
                              timeout=timeout, check=False)

    return run


@pytest.fixture(scope="session")
def ping_all():
    """ping_all(lab, [(source_node, address), ...]) -> [answered, ...], all pinged at the same time."""

    def run(lab, probes) -> list[bool]:
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(probes)) as pool:
            return list(pool.map(lambda probe: lab.ping(probe[0], probe[1], count=2, timeout=1.0), probes))

    return run


@pytest.fixture(scope="session")
def allow_echo():
    """allow_echo(lab, node, family, chain, icmp_type, interface) puts one ACCEPT for ICMP echo at the top of chain.

    chain is INPUT or OUTPUT, icmp_type echo-request or echo-reply, family 4 or 6.
    """

    def run(lab, node, family: int, chain: str, icmp_type: str, interface: str) -> None:
        if lab.firewall == "nftables":
            hook, match = ("input", "iifname") if chain == "INPUT" else ("output", "oifname")
            protocol = "icmp" if family == 4 else "icmpv6"
            argv = ["nft", "insert", "rule", "inet", "filter", hook, match, interface, protocol, "type", icmp_type, "accept"]
        else:
            direction = "-i" if chain == "INPUT" else "-o"
            command, protocol, match = ("iptables", "icmp", "--icmp-type") if family == 4 else ("ip6tables", "ipv6-icmp", "--icmpv6-type")
            argv = [command, "-I", chain, "1", direction, interface, "-p", protocol, match, icmp_type, "-j", "ACCEPT"]
        lab.run(node, argv)

    return run


def pytest_collection_modifyitems(items):
    """The tests that boot machines last, in their order: make test makes the machines'
    images and wheels in the background while the namespace tests run (they leave a
    core mostly idle), and a machine test that comes before they are ready waits for
    them (nlmmachines._cached_build)."""
    items.sort(key=lambda item: item.get_closest_marker("machines") is not None)


SAVE_COMMANDS = ("iptables-save", "ip6tables-save")
_COUNTERS_AND_STAMPS = re.compile(r"^#.*$|\[\d+:\d+\]", re.M)
_OWNED_COMMENT = "nodelatency.monitor"


@pytest.fixture(scope="session")
def saved_rulesets():
    """saved_rulesets(lab) -> {(node, save command): ruleset without counters and time stamps}."""

    def read(lab):
        return {(node.name, save): _COUNTERS_AND_STAMPS.sub("", lab.run(node, [save]).stdout)
                for node in lab.nodes for save in SAVE_COMMANDS}

    return read


@pytest.fixture(scope="session")
def owned_accept_rules():
    """owned_accept_rules(ruleset) -> the owned ACCEPT rules of an iptables-save text."""

    def find(ruleset):
        return [line for line in ruleset.splitlines() if _OWNED_COMMENT in line and line.endswith("-j ACCEPT")
                or line.startswith("-A NLM-")]

    return find
