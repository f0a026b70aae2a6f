"""The nlm agent's service loop in a lab node's namespace, without systemd: a malformed
reload keeps the previous peers, a port another process holds leaves the probing and
the files going, and SIGTERM ends it cleanly. Its metrics are scraped over HTTP inside
the namespace and parsed with the Prometheus client's parser. (The agent as the role
runs it, with the 20 ms link and loss: test_agent_machines.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from nlmlab import REPO, NodeCommandError

pytestmark = pytest.mark.lab

AGENT = REPO / "roles" / "nlm" / "files" / "nlm-agent.py"
LISTEN = "127.0.0.1:9105"
SCRAPE = "import urllib.request; print(urllib.request.urlopen('http://%s/metrics', timeout=5).read().decode())" % LISTEN


@pytest.fixture
def lab(lab_factory):
    return lab_factory(nodes=2, firewall="none")


def families(text):
    return dict((family.name, family) for family in text_string_to_metric_families(text))


def samples(parsed, metric, name, **labels):
    return [sample for sample in parsed[metric].samples
            if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items())]


def scrape(lab, node):
    return families(lab.run(node, [sys.executable, "-c", SCRAPE], timeout=20).stdout)


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail("within %g s: %s" % (timeout, what))


def start(lab, node, tmp_path, name, peers, *args):
    log = open(tmp_path / ("%s.log" % name), "w+", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO / ".collections")}
    process = subprocess.Popen(["ip", "netns", "exec", node.netns, sys.executable, str(AGENT), "--peers", str(peers),
                                *args], env=env, stdout=log, stderr=log)
    return process, log


def stop(process, log):
    process.send_signal(signal.SIGTERM)
    try:
        returncode = process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        returncode = process.wait()
    log.close()
    return returncode


def test_a_bad_reload_keeps_the_peers_a_taken_port_keeps_the_probing_and_sigterm_ends_it(lab, tmp_path):
    n1, n2 = lab.nodes
    peers = tmp_path / "peers.json"
    peers.write_text(json.dumps({"source": "n1", "interval": 1, "count": 2, "timeout": 0.5,
                                 "peers": [{"name": "n2", "address": [n2.gateway_ipv4, n2.gateway_ipv6]}]}))
    agent, log = start(lab, n1, tmp_path, "agent", peers, "--listen", LISTEN)
    second = None
    try:
        def sent():
            try:
                parsed = scrape(lab, n1)
            except NodeCommandError:
                return 0    # not serving yet
            found = samples(parsed, "nlm_probes_sent", "nlm_probes_sent_total", peer="n2", family="ipv4")
            return found[0].value if found else 0

        wait_for(sent, 15, "a first cycle")
        # a malformed peers file on SIGHUP: one line, and the previous peers are still probed
        peers.write_text("{not json")
        agent.send_signal(signal.SIGHUP)
        wait_for(lambda: "keeping the previous ones" in (tmp_path / "agent.log").read_text(), 5, "the reload's line")
        sent_now = sent()
        wait_for(lambda: sent() > sent_now, 4, "cycles after the bad reload")
        assert agent.poll() is None

        # a second agent on the port the first holds: one line, and it probes on into its files
        peers.write_text(json.dumps({"source": "n1", "interval": 1, "count": 1, "timeout": 0.5,
                                     "peers": [{"name": "n2", "address": [n2.gateway_ipv4]}]}))
        latest = tmp_path / "latest.json"
        second, second_log = start(lab, n1, tmp_path, "second", peers, "--listen", LISTEN, "--latest", str(latest))
        wait_for(latest.exists, 10, "the second agent's first cycle")
        assert "cannot serve the metrics on %s" % LISTEN in (tmp_path / "second.log").read_text()
        document = json.loads(latest.read_text())
        assert document["kind"] == "NodeLatencyStats" and document["metadata"]["name"] == "n1"
        assert second.poll() is None
        assert stop(second, second_log) == 0
        second = None
    finally:
        if second is not None:
            stop(second, second_log)
        returncode = stop(agent, log)
    assert returncode == 0, (tmp_path / "agent.log").read_text()
