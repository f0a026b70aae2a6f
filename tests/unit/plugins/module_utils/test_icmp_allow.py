"""Option checks and the per-namespace lock of nlm_icmp_allow."""

from __future__ import annotations

import fcntl
import os
import stat

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
    """The lock directory under tmp_path instead of /run."""
    directory = tmp_path / "nodelatency-monitor"
    monkeypatch.setattr(_icmp_allow, "LOCK_DIRECTORY", str(directory))
    return directory


def test_the_lock_is_per_network_namespace_in_roots_own_directory(lock_directory):
    with _icmp_allow.namespace_lock(0):
        (path,) = lock_directory.iterdir()
    assert path.name == "netns-%d.lock" % os.stat("/proc/self/ns/net").st_ino
    status = os.stat(lock_directory)
    assert status.st_uid == 0 and stat.S_IMODE(status.st_mode) & 0o022 == 0


@pytest.mark.parametrize("spoil", ["world-writable", "another owner", "a link"])
def test_a_lock_directory_others_could_write_to_is_refused(lock_directory, tmp_path, spoil):
    if spoil == "a link":
        (tmp_path / "elsewhere").mkdir()
        lock_directory.symlink_to(tmp_path / "elsewhere")
    else:
        lock_directory.mkdir()
        if spoil == "world-writable":
            os.chmod(lock_directory, 0o1777)
        else:
            os.chown(lock_directory, 1000, 1000)
    with pytest.raises(NlmError, match="is not a directory owned by root that only root .* remove it"):
        with _icmp_allow.namespace_lock(0):
            pass


def test_a_link_in_place_of_the_lock_file_is_not_followed(lock_directory, tmp_path):
    lock_directory.mkdir()
    target = tmp_path / "target"
    (lock_directory / ("netns-%d.lock" % os.stat("/proc/self/ns/net").st_ino)).symlink_to(target)
    with pytest.raises(NlmError, match="cannot open the lock file"):
        with _icmp_allow.namespace_lock(0):
            pass
    assert not target.exists()


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
