"""The nlm agent's service loop on the lab: real ICMP through a 20 ms link, its metrics
scraped over HTTP inside the node's namespace and parsed with the Prometheus client's
parser, loss seen within two intervals once the peer drops echo, a malformed reload
that keeps the previous peers, and a clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from nlmlab import REPO

pytestmark = pytest.mark.lab

AGENT = REPO / "roles" / "nlm" / "files" / "nlm-agent.py"
LISTEN = "127.0.0.1:9105"
SCRAPE = "import urllib.request; print(urllib.request.urlopen('http://%s/metrics', timeout=5).read().decode())" % LISTEN


@pytest.fixture
def lab(lab_factory):
    return lab_factory(nodes=2, firewall="none", delay="n1-n2=20ms")


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


def test_the_agent_measures_serves_and_sees_loss(lab, tmp_path):
    n1, n2 = lab.nodes
    peers = tmp_path / "peers.json"
    peers.write_text(json.dumps({"source": "n1", "interval": 1, "count": 2, "timeout": 0.5,
                                 "peers": [{"name": "n2", "address": [n2.gateway_ipv4, n2.gateway_ipv6]}]}))
    textfile = tmp_path / "nlm.prom"
    env = {**os.environ, "PYTHONPATH": str(REPO / ".collections")}
    log = open(tmp_path / "agent.log", "w+", encoding="utf-8")
    agent = subprocess.Popen(["ip", "netns", "exec", n1.netns, sys.executable, str(AGENT), "--peers", str(peers),
                              "--listen", LISTEN, "--textfile", str(textfile)], env=env, stdout=log, stderr=log)
    try:
        parsed = wait_for(lambda: textfile.exists() and scrape(lab, n1), 15, "a first cycle served over HTTP")
        # 20 ms round trip: in the bucket up to 25.6 ms, not in the one up to 12.8 ms
        for family in ("ipv4", "ipv6"):
            last = samples(parsed, "nlm_last_rtt_seconds", "nlm_last_rtt_seconds", peer="n2", family=family)
            assert len(last) == 1 and 0.018 <= last[0].value <= 0.05, last
            buckets = dict((sample.labels["le"], sample.value) for sample in
                           samples(parsed, "nlm_rtt_seconds", "nlm_rtt_seconds_bucket", peer="n2", family=family))
            assert buckets["0.0128"] == 0 and buckets["0.0256"] >= 1, buckets

        # n2 drops echo: within two intervals the requests go on and the replies stop
        lab.run(n2, ["iptables", "-I", "INPUT", "-p", "icmp", "--icmp-type", "echo-request", "-j", "DROP"])
        before = scrape(lab, n1)

        def counts(parsed_now):
            return [samples(parsed_now, metric, metric + "_total", peer="n2", family="ipv4")[0].value
                    for metric in ("nlm_probes_sent", "nlm_probes_received")]
        sent_before, received_before = counts(before)

        def newer():
            now = scrape(lab, n1)
            return now if counts(now)[0] > sent_before else None
        after = wait_for(newer, 2 * 1 + 2, "a cycle after the drop")
        sent_after, received_after = counts(after)
        assert sent_after > sent_before and received_after == received_before

        # a malformed peers file on SIGHUP: one line, and the previous peers are still probed
        peers.write_text("{not json")
        agent.send_signal(signal.SIGHUP)
        wait_for(lambda: "keeping the previous ones" in (tmp_path / "agent.log").read_text(), 5, "the reload's line")
        sent_now = counts(scrape(lab, n1))[0]
        wait_for(lambda: counts(scrape(lab, n1))[0] > sent_now, 4, "cycles after the bad reload")
        assert agent.poll() is None
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            returncode = agent.wait(timeout=10)
        except subprocess.TimeoutExpired:
            agent.kill()
            returncode = agent.wait()
        log.close()
    assert returncode == 0, (tmp_path / "agent.log").read_text()
