"""netns connection: namespace choice and validation, the argv it runs, file transfers
through the namespace's view of /etc. Processes are faked; the lab tests run it for real."""

from __future__ import annotations

import os

import pytest
from ansible import constants as C
from ansible.errors import AnsibleConnectionFailure
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import fragment_loader
from ansible.utils.plugin_docs import get_docstring

from ansible_collections.nodelatency.monitor.plugins.connection import netns

LOAD_NAME = "nodelatency.monitor.netns"


@pytest.fixture(scope="module", autouse=True)
def option_definitions():
    """Register the plugin's documented options, as the plugin loader does when it loads it."""
    documentation = get_docstring(os.path.abspath(netns.__file__), fragment_loader, collection_name="nodelatency.monitor")[0]
    C.config.initialize_plugin_configuration_definitions("connection", LOAD_NAME, documentation["options"])


@pytest.fixture
def namespaces(tmp_path, monkeypatch):
    """A fake /run/netns holding lab-n1 and a fake /etc/netns/lab-n1 binding iptables/."""
    run_dir = tmp_path / "run-netns"
    run_dir.mkdir()
    (run_dir / "lab-n1").touch()
    etc_dir = tmp_path / "etc-netns"
    (etc_dir / "lab-n1" / "iptables").mkdir(parents=True)
    monkeypatch.setattr(netns, "NETNS_RUN_DIR", str(run_dir))
    monkeypatch.setattr(netns, "NETNS_ETC_DIR", str(etc_dir))
    return etc_dir


@pytest.fixture
def fake_ip(tmp_path):
    path = tmp_path / "bin" / "ip"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return str(path)


def connection(remote_addr="lab-n1", **host_vars):
    play_context = PlayContext()
    play_context.remote_addr = remote_addr
    plugin = netns.Connection(play_context, None)
    plugin._load_name = LOAD_NAME
    plugin.set_options(var_options=host_vars)
    return plugin


class FakeProcess:
    returncode = 3

    def __init__(self, argv, **kwargs):
        self.argv = argv
        self.kwargs = kwargs

    def communicate(self, in_data):
        self.in_data = in_data
        return b"out", b"err"


@pytest.mark.parametrize("name", ["nlm-n1", "n1", "a.b_c-1", "x" * 255])
def test_valid_names_have_no_problem(name):
    assert netns.netns_name_problem(name) is None


@pytest.mark.parametrize(("name", "problem"), [
    (None, "no network namespace name was given"),
    ("", "no network namespace name was given"),
    ("a/b", "'a/b' is not a valid network namespace name"),
    (".", "'.' is not a valid network namespace name"),
    ("..", "'..' is not a valid network namespace name"),
    ("a b", "'a b' is not a valid network namespace name"),
    ("a\0b", "is not a valid network namespace name"),
    ("x" * 256, "is longer than 255 bytes"),
])
def test_invalid_names_say_why(name, problem):
    assert problem in netns.netns_name_problem(name)


@pytest.mark.parametrize(("path", "expected"), [
    ("/etc/iptables/rules.v4", "/etc/netns/lab-n1/iptables/rules.v4"),
    ("/etc/iptables", "/etc/netns/lab-n1/iptables"),
    ("/etc/./iptables//rules.v6", "/etc/netns/lab-n1/iptables/rules.v6"),
    ("/etc/hosts", "/etc/hosts"),
    ("/etc/iptables-other/x", "/etc/iptables-other/x"),
    ("/root/.ansible/tmp/x/AnsiballZ_setup.py", "/root/.ansible/tmp/x/AnsiballZ_setup.py"),
    ("/etc", "/etc"),
])
def test_namespace_view_path_follows_the_etc_bindings(path, expected):
    assert netns.namespace_view_path(path, ["iptables", "nftables.conf"], "lab-n1") == expected


def test_namespace_argv_runs_the_shell_command_through_ip_netns_exec():
    assert netns.namespace_argv("/usr/sbin/ip", "lab-n1", "/bin/sh", "echo 'a b'") == [
        "/usr/sbin/ip", "netns", "exec", "lab-n1", "/bin/sh", "-c", "echo 'a b'"]


@pytest.mark.parametrize(("host_vars", "remote_addr", "expected"), [
    ({"nlm_netns": "from-nlm", "ansible_netns": "from-ansible"}, "from-host", "from-ansible"),
    ({"nlm_netns": "from-nlm"}, "from-host", "from-nlm"),
    ({}, "from-host", "from-host"),
])
def test_namespace_precedence(tmp_path, monkeypatch, fake_ip, host_vars, remote_addr, expected):
    (tmp_path / expected).touch()
    monkeypatch.setattr(netns, "NETNS_RUN_DIR", str(tmp_path))
    plugin = connection(remote_addr, ansible_netns_ip_executable=fake_ip, **host_vars)
    plugin._connect()
    assert plugin._netns == expected


def test_exec_command_runs_inside_the_namespace(namespaces, fake_ip, monkeypatch):
    started = []
    monkeypatch.setattr(netns.subprocess, "Popen", lambda argv, **kwargs: started.append(FakeProcess(argv, **kwargs)) or started[-1])
    plugin = connection(ansible_netns_ip_executable=fake_ip)
    assert plugin.exec_command("echo hello", in_data=b"input") == (3, b"out", b"err")
    assert started[0].argv == [fake_ip, "netns", "exec", "lab-n1", "/bin/sh", "-c", "echo hello"]
    assert started[0].in_data == b"input"


@pytest.mark.parametrize(("host_vars", "message"), [
    ({"ansible_netns": "lab/n1"}, "netns connection: 'lab/n1' is not a valid network namespace name"),
    ({"ansible_netns": "lab-n9"}, "netns connection: network namespace 'lab-n9' does not exist"),
    ({"ansible_netns_ip_executable": "no-such-ip-command"}, "netns connection: the ip command 'no-such-ip-command' was not found"),
])
def test_connect_refuses_with_a_clear_message(namespaces, monkeypatch, host_vars, message):
    monkeypatch.setattr(netns.subprocess, "Popen", lambda *args, **kwargs: pytest.fail("nothing may run"))
    plugin = connection(**host_vars)
    with pytest.raises(AnsibleConnectionFailure, match=message.replace("(", r"\(")):
        plugin.exec_command("true")


def test_put_file_writes_where_the_namespace_sees_etc(namespaces, fake_ip, tmp_path):
    source = tmp_path / "rules"
    source.write_text("*filter\nCOMMIT\n")
    plugin = connection(ansible_netns_ip_executable=fake_ip)
    plugin.put_file(str(source), "/etc/iptables/rules.v4")
    assert (namespaces / "lab-n1" / "iptables" / "rules.v4").read_text() == "*filter\nCOMMIT\n"
    plugin.put_file(str(source), str(tmp_path / "plain"))
    assert (tmp_path / "plain").read_text() == "*filter\nCOMMIT\n"


def test_fetch_file_reads_where_the_namespace_sees_etc(namespaces, fake_ip, tmp_path):
    (namespaces / "lab-n1" / "iptables" / "rules.v6").write_text("node copy\n")
    plugin = connection(ansible_netns_ip_executable=fake_ip)
    plugin.fetch_file("/etc/iptables/rules.v6", str(tmp_path / "fetched"))
    assert (tmp_path / "fetched").read_text() == "node copy\n"
