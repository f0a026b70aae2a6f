"""The collection as ansible-builder sees it: built, installed from its tarball, and
introspected, and an image's build context made with `ansible-builder create` from a
definition that includes the tarball. An execution environment that includes it gets its
controller-side needs (none) and nothing of the lab, the tests or the managed nodes."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent


def run(argv, cwd):
    # as a user runs them: none of this checkout's ansible.cfg or collections path
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    directory = tmp_path_factory.mktemp("build")
    run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(directory), str(REPO)], directory)
    (built,) = directory.glob("nodelatency-monitor-*.tar.gz")
    return built


def test_an_execution_environment_gets_no_requirement_of_the_lab_tests_or_nodes(tarball, tmp_path):
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    assert {"meta/execution-environment.yml", "meta/ee-requirements.txt", "meta/ee-bindep.txt"} <= names
    assert "test-requirements.txt" not in names
    run([str(BIN / "ansible-galaxy"), "collection", "install", "--force", "--no-deps", "-p",
         str(tmp_path / "collections"), str(tarball)], tmp_path)
    introspected = run([str(BIN / "ansible-builder"), "introspect", "--sanitize", str(tmp_path / "collections")],
                       tmp_path).stdout
    # bindep.txt at the top lists the lab's and the nodes' packages (mmdebstrap, nftables):
    # without the metadata an image would get them
    assert yaml.safe_load(introspected.split("---", 1)[1]) == {"python": [], "system": []}, introspected


EE_DEFINITION = """\
version: 3
images:
  base_image:
    name: registry.example.org/ee-minimal:latest
dependencies:
  ansible_core:
    package_pip: ansible-core
  ansible_runner:
    package_pip: ansible-runner
  galaxy:
    collections:
      - name: {tarball}
        type: file
"""


def test_ansible_builder_create_makes_a_context_whose_own_introspection_finds_nothing_to_add(tarball, tmp_path):
    shutil.copy(tarball, tmp_path)
    (tmp_path / "execution-environment.yml").write_text(EE_DEFINITION.format(tarball=tarball.name))
    run([str(BIN / "ansible-builder"), "create", "-f", "execution-environment.yml", "-c", "context"], tmp_path)
    context = tmp_path / "context"
    assert yaml.safe_load((context / "_build" / "requirements.yml").read_text()) == {
        "collections": [{"name": tarball.name, "type": "file"}]}
    steps = next(context.glob("*file")).read_text()
    assert "ansible-galaxy collection install" in steps and "introspect.py introspect" in steps
    # what the image's build runs once the collections are in, on the collection installed
    run([str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(tmp_path / "collections"),
         str(tarball)], tmp_path)
    found = run([sys.executable, str(context / "_build" / "scripts" / "introspect.py"), "introspect",
                 "--write-pip", "pip.txt", "--write-bindep", "bindep.txt", str(tmp_path / "collections")],
                tmp_path).stdout
    assert yaml.safe_load(found.split("---", 1)[1]) == {"python": [], "system": []}, found
    assert not (tmp_path / "pip.txt").exists() and not (tmp_path / "bindep.txt").exists()
