"""The collection as ansible-builder sees it: built, installed from its tarball, and
introspected. An execution environment that includes it gets its controller-side needs
(none) and nothing of the lab, the tests or the managed nodes."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tarfile

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent


def run(argv, cwd):
    # as a user runs them: none of this checkout's ansible.cfg or collections path
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=True)


def test_an_execution_environment_gets_no_requirement_of_the_lab_tests_or_nodes(tmp_path):
    run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), str(REPO)], tmp_path)
    (tarball,) = tmp_path.glob("nodelatency-monitor-*.tar.gz")
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
