"""A module without its library runs again with the nlm role's venv, once."""

from __future__ import annotations

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils import _respawn


@pytest.fixture
def respawn(monkeypatch):
    calls = {"probed": [], "respawned": []}

    def probe(paths, library):
        calls["probed"].append((paths, library))
        return calls.get("found")

    monkeypatch.setattr(_respawn, "probe_interpreters_for_module", probe)
    monkeypatch.setattr(_respawn, "respawn_module", calls["respawned"].append)
    monkeypatch.setattr(_respawn, "has_respawned", lambda: calls.get("again", False))
    return calls


def test_the_roles_venv_with_the_library_runs_the_module_again(respawn):
    respawn["found"] = _respawn.ROLE_PYTHON
    _respawn.respawn_with_library("icmplib")
    assert respawn["probed"] == [([_respawn.ROLE_PYTHON], "icmplib")]
    assert respawn["respawned"] == [_respawn.ROLE_PYTHON]


def test_without_such_a_venv_the_module_goes_on_to_fail(respawn):
    _respawn.respawn_with_library("pyroute2")
    assert respawn["respawned"] == []


def test_a_module_run_again_is_not_run_a_third_time(respawn):
    respawn["again"] = True
    respawn["found"] = _respawn.ROLE_PYTHON
    _respawn.respawn_with_library("icmplib")
    assert respawn["probed"] == [] and respawn["respawned"] == []
