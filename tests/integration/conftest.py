"""Fixtures shared by the lab integration tests.

``lab_factory`` (per test) and ``module_lab_factory`` (per test module) bring up
labs with names of their own, so that a test never touches the lab of ``make lab-up``
or of another test run, and take them down afterwards even when the test fails.
``run_ansible`` runs the venv's ansible with the repository's ansible.cfg.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest

import nlmlab  # lab/ is on the path through pytest.ini

REPO = Path(__file__).resolve().parents[2]

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
