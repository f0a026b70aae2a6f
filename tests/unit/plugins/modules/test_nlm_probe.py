"""nlm_probe module: option checks and the hand-off to the engine."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.nodelatency.monitor.plugins.module_utils import _probe
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.modules import nlm_probe


def run_module(capsys, args):
    with patch_module_args(args), pytest.raises(SystemExit):
        nlm_probe.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def measured(monkeypatch):
    calls = []

    def measure(**kwargs):
        calls.append(kwargs)
        return {"source": kwargs["name"], "peers": []}

    monkeypatch.setattr(_probe, "measure", measure)
    return calls


def test_facts_from_the_engine_and_never_changed(capsys, measured):
    result = run_module(capsys, {"name": "n1", "targets": ["198.18.0.12"], "count": 5, "interval": 0.5,
                                 "privileged": "false", "interface": "antrea-gw0", "source": ["198.19.1.1"],
                                 "keep_rtts": "yes"})
    assert result["changed"] is False
    assert result["ansible_facts"] == {"nlm_latency": {"source": "n1", "peers": []}}
    assert measured == [{"name": "n1", "targets": ["198.18.0.12"], "count": 5, "interval": 0.5, "timeout": 1.0,
                         "payload_size": 56, "privileged": False, "interface": "antrea-gw0",
                         "sources": ["198.19.1.1"], "keep_rtts": True}]


def test_defaults(capsys, measured):
    run_module(capsys, {})
    (call,) = measured
    assert (call["targets"], call["count"], call["interval"], call["timeout"], call["payload_size"],
            call["privileged"], call["interface"], call["sources"], call["keep_rtts"]) == (
        [], 3, 0.2, 1.0, 56, "auto", None, [], False)
    assert call["name"]


@pytest.mark.parametrize("args, message", [
    ({"count": 0}, "count must be between 1 and 65536, got 0"),
    ({"count": 65537}, "count must be between 1 and 65536"),
    ({"interval": 0}, "interval must be between 0.001 and 3600 seconds"),
    ({"timeout": -1}, "timeout must be between 0.001 and 3600 seconds"),
    ({"payload_size": 7}, "payload_size must be between 8 and 65507 bytes, got 7"),
    ({"interface": "eth0/1"}, "interface name 'eth0/1' contains '/'"),
    ({"interface": "a" * 16}, "is 16 characters long"),
    ({"privileged": "maybe"}, "privileged must be auto, true or false, got 'maybe'"),
])
def test_bad_options_fail_before_anything_is_sent(capsys, measured, args, message):
    result = run_module(capsys, args)
    assert result["failed"] is True
    assert result["msg"].startswith("nlm_probe: ")
    assert message in result["msg"]
    assert measured == []


def test_explicit_targets_exclude_peer_selection(capsys, measured):
    result = run_module(capsys, {"targets": ["198.18.0.12"], "peers": "all"})
    assert result["failed"] is True
    assert "mutually exclusive: targets|peers" in result["msg"]
    assert measured == []


def test_all_bad_options_are_named_at_once(capsys, measured):
    result = run_module(capsys, {"count": 0, "payload_size": 1})
    assert "count must be" in result["msg"] and "payload_size must be" in result["msg"]


@pytest.mark.parametrize("value, expected", [("auto", "auto"), ("AUTO", "auto"), (True, True), ("yes", True),
                                             ("false", False), (False, False)])
def test_privileged_choice(value, expected):
    assert nlm_probe.privileged_choice(value) == expected


def test_engine_error_becomes_a_clear_failure(capsys, monkeypatch):
    def measure(**kwargs):
        raise NlmError("interface antrea-gw0 does not exist")

    monkeypatch.setattr(_probe, "measure", measure)
    result = run_module(capsys, {"interface": "antrea-gw0"})
    assert result["failed"] is True
    assert result["msg"] == "nlm_probe: interface antrea-gw0 does not exist"
