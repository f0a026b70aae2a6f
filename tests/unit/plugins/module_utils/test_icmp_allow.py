"""Option checks and the per-namespace lock of nlm_icmp_allow."""

from __future__ import annotations

import fcntl
import os

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils import _icmp_allow
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError

GOOD = {"interfaces": ["antrea-gw0"], "roles": ["responder", "prober"], "ip_versions": ["ipv4", "ipv6"],
        "comment": "nodelatency.monitor", "wait": 30}


def test_good_options_have_no_problem():
    assert _icmp_allow.validate(GOOD) == []


@pytest.mark.parametrize("change,problem", [
    ({"interfaces": []}, "interfaces is empty: name at least one interface"),
    ({"roles": []}, "roles is empty: give responder, prober or both"),
    ({"ip_versions": []}, "ip_versions is empty: give ipv4, ipv6 or both"),
    ({"comment": "a;b"}, "the comment 'a;b' may only contain"),
    ({"wait": -1}, "wait must be 0 or more seconds"),
])
def test_each_problem_is_named(change, problem):
    problems = _icmp_allow.validate(dict(GOOD, **change))
    assert len(problems) == 1 and problems[0].startswith(problem)


@pytest.fixture
def lock_directory(tmp_path, monkeypatch):
    """The lock goes to tmp_path instead of /run/lock."""
    real_isdir = os.path.isdir
    monkeypatch.setattr(_icmp_allow.os.path, "isdir", lambda path: False if path == "/run/lock" else real_isdir(path))
    monkeypatch.setattr(_icmp_allow.tempfile, "gettempdir", lambda: str(tmp_path))
    return tmp_path


def test_the_lock_is_per_network_namespace(lock_directory):
    with _icmp_allow.namespace_lock(0):
        (path,) = lock_directory.iterdir()
    assert path.name == "nodelatency-monitor-netns-%d.lock" % os.stat("/proc/self/ns/net").st_ino


def test_a_held_lock_times_out_with_advice(lock_directory):
    with _icmp_allow.namespace_lock(0):
        (path,) = lock_directory.iterdir()
        # another open file description, as another process would have
        with open(path) as other:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with pytest.raises(NlmError, match="another nlm_icmp_allow run held .* for more than 0 seconds: "
                                               "retry, or raise wait"):
                with _icmp_allow.namespace_lock(0):
                    pass
    with _icmp_allow.namespace_lock(0):
        pass


def test_a_lock_file_that_cannot_be_opened_says_become(lock_directory, monkeypatch):
    def refuse(path, flags, mode=0o777):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(_icmp_allow.os, "open", refuse)
    with pytest.raises(NlmError, match=r"cannot open the lock file .* \(Permission denied\): run the task as root"):
        with _icmp_allow.namespace_lock(0):
            pass
