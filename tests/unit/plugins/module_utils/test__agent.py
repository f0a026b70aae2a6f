"""The agent's choices without sockets: whom it probes, when, its peers file, its samples."""

from __future__ import annotations

import json
import random

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils import _agent
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_stats import node_latency_document_json

NAMES = ["n%d" % index for index in range(1, 241)]


def test_without_a_limit_every_other_node_is_a_peer():
    assert _agent.sample_peers("n1", ["n1", "n2", "n3"], 0) == ["n2", "n3"]
    assert _agent.sample_peers("n1", ["n1", "n2", "n3"], 5) == ["n2", "n3"]


@pytest.mark.parametrize("max_peers", [1, 3, 8])
def test_a_sample_of_k_covers_every_node_and_each_node_is_probed_by_exactly_k(max_peers):
    probed_by = dict((name, 0) for name in NAMES)
    for source in NAMES:
        peers = _agent.sample_peers(source, NAMES, max_peers)
        assert len(peers) == len(set(peers)) == max_peers and source not in peers
        for peer in peers:
            probed_by[peer] += 1
    assert set(probed_by.values()) == {max_peers}


def test_the_sample_is_stable_and_a_node_leaving_moves_only_its_predecessors():
    before = dict((source, _agent.sample_peers(source, NAMES, 4)) for source in NAMES)
    assert before == dict((source, _agent.sample_peers(source, list(reversed(NAMES)), 4)) for source in NAMES)
    gone = "n17"
    after = dict((source, _agent.sample_peers(source, [name for name in NAMES if name != gone], 4))
                 for source in NAMES if source != gone)
    moved = [source for source in after if after[source] != before[source]]
    assert sorted(moved) == sorted(source for source in after if gone in before[source])
    assert len(moved) == 4


@pytest.mark.parametrize("max_peers", [1, 7, 100])
def test_rotations_move_the_window_along_the_ring_and_cover_every_peer(max_peers):
    for source in NAMES[:20]:
        assert _agent.sample_peers(source, NAMES, max_peers, 0) == _agent.sample_peers(source, NAMES, max_peers)
        windows = [_agent.sample_peers(source, NAMES, max_peers, rotation)
                   for rotation in range(-(-(len(NAMES) - 1) // max_peers))]
        assert set(peer for window in windows for peer in window) == set(NAMES) - {source}
        following = _agent.sample_peers(source, NAMES, len(NAMES) - 2)
        assert windows[1] == following[max_peers:2 * max_peers]
    for rotation in (1, 5, -2):
        probed_by = dict((name, 0) for name in NAMES)
        for source in NAMES:
            for peer in _agent.sample_peers(source, NAMES, max_peers, rotation):
                probed_by[peer] += 1
        assert set(probed_by.values()) == {max_peers}


def test_cycles_start_on_the_node_offset_within_the_jitter():
    interval = 60.0
    offsets = set(round(_agent.cycle_offset(name, interval), 3) for name in NAMES)
    # spread over the interval, not in lockstep
    assert len(offsets) > 200 and min(offsets) < 10 and max(offsets) > 50
    rng = random.Random(7)
    offset = _agent.cycle_offset("n5", interval)
    for now in (0.0, 59.9, 1000.0, 123456.7):
        start = _agent.next_start("n5", interval, now, rng)
        assert start > now - _agent.JITTER_SHARE * interval
        nearest = offset + round((start - offset) / interval) * interval
        assert abs(start - nearest) <= _agent.JITTER_SHARE * interval + 1e-9
        assert nearest - now <= interval + 1e-9


def peers_file(**overrides):
    data = {"source": "n1", "interval": 5, "max_peers": 0,
            "peers": [{"name": "n2", "address": ["198.19.2.1", "2001:db8:1:2::1"]},
                      {"name": "n3", "address": "198.19.3.1"}]}
    data.update(overrides)
    return json.dumps(data)


def test_the_peers_file_gives_settings_and_peers():
    settings = _agent.parse_peers_file(peers_file())
    assert settings["source"] == "n1" and settings["interval"] == 5.0 and settings["count"] == 3
    assert settings["peers"][1] == {"name": "n3", "address": ["198.19.3.1"]}
    assert _agent.chosen_targets(settings) == settings["peers"]
    assert [peer["name"] for peer in _agent.chosen_targets(_agent.parse_peers_file(peers_file(max_peers=1)))] \
        == _agent.sample_peers("n1", ["n1", "n2", "n3"], 1)


@pytest.mark.parametrize("text, message", [
    ("{", "is not JSON"),
    ("[]", "must hold a JSON object"),
    (peers_file(source=""), "source must be this node's name"),
    (peers_file(interval=0.5), "interval must be at least 1 s"),
    (peers_file(interval="often"), "interval must be a number"),
    (peers_file(count=0), "count must be at least 1"),
    (peers_file(peers={}), "peers must be a list"),
    (peers_file(peers=[{"address": "198.19.2.1"}]), "must be an object with a name"),
    (peers_file(peers=[{"name": "n2", "address": []}]), "address must be an address or a non-empty list"),
    (peers_file(peers=[{"name": "n2", "address": "n2.example"}]), "'n2.example' is not an IP address"),
    (peers_file(peers=[{"name": "n2", "address": "198.19.2.1"}, {"name": "n2", "address": "198.19.2.2"}]),
     "n2 appears twice"),
])
def test_a_malformed_peers_file_says_what_is_wrong(text, message):
    with pytest.raises(NlmError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _agent.parse_peers_file(text, "/etc/nlm/peers.json")


def test_a_cycle_becomes_samples_per_source_peer_and_family():
    from ansible_collections.nodelatency.monitor.plugins.module_utils._agent_metrics import Metrics
    latency = {"source": "n1", "peers": [
        {"name": "n2", "targets": [
            {"address": "198.19.2.1", "family": "ipv4", "sent": 3, "received": 2, "rtts_ms": [0.1, 0.3],
             "error": None},
            {"address": "198.19.2.2", "family": "ipv4", "sent": 3, "received": 1, "rtts_ms": [0.2],
             "error": None},
            {"address": "2001:db8:1:2::1", "family": "ipv6", "sent": 3, "received": 0, "rtts_ms": [],
             "error": "send failed: Operation not permitted"}]}]}
    metrics = Metrics()
    metrics.apply(latency, ended=1000.0, duration=0.5)
    parsed = families(metrics.text())

    def by_family(metric, name):
        return dict((sample.labels["family"], sample.value) for sample in parsed[metric].samples
                    if sample.name == name and sample.labels["source"] == "n1" and sample.labels["peer"] == "n2")
    # two addresses of one family are one series: their counts add up, the later one's RTT is the last
    assert by_family("nlm_probes_sent", "nlm_probes_sent_total") == {"ipv4": 6.0, "ipv6": 3.0}
    assert by_family("nlm_probes_received", "nlm_probes_received_total") == {"ipv4": 3.0, "ipv6": 0.0}
    assert by_family("nlm_probe_errors", "nlm_probe_errors_total") == {"ipv4": 0.0, "ipv6": 1.0}
    assert by_family("nlm_rtt_seconds", "nlm_rtt_seconds_count") == {"ipv4": 3.0, "ipv6": 0.0}
    assert by_family("nlm_rtt_seconds", "nlm_rtt_seconds_sum")["ipv4"] == pytest.approx(0.0006)
    assert by_family("nlm_last_rtt_seconds", "nlm_last_rtt_seconds") == {"ipv4": 0.0002}


def test_a_rtt_on_a_bucket_bound_counts_in_that_bucket_as_the_clients_histogram_puts_it():
    from prometheus_client import CollectorRegistry, Histogram
    from ansible_collections.nodelatency.monitor.plugins.module_utils._agent_metrics import Metrics
    rtts_ms = [bound * 1000.0 for bound in _agent.RTT_BUCKETS[:4]] + [0.0, 0.00001, 0.0499, 0.0501, 40000.0]
    metrics = Metrics()
    metrics.apply(cycle("n1", {"n2": [("ipv4", len(rtts_ms), rtts_ms, None)]}), ended=1000.0, duration=0.5)
    client = Histogram("nlm_rtt_seconds", "", ("source", "peer", "family"), buckets=_agent.RTT_BUCKETS,
                       registry=CollectorRegistry())
    for rtt in rtts_ms:
        client.labels("n1", "n2", "ipv4").observe(rtt / 1000.0)
    ours = [(sample.labels["le"], sample.value) for sample in families(metrics.text())["nlm_rtt_seconds"].samples
            if sample.name == "nlm_rtt_seconds_bucket"]
    theirs = [(sample.labels["le"], sample.value) for sample in client.collect()[0].samples
              if sample.name == "nlm_rtt_seconds_bucket"]
    assert ours == theirs


def test_the_rtt_buckets_start_near_50_microseconds_and_double():
    assert _agent.RTT_BUCKETS[0] == pytest.approx(0.00005)
    assert all(b == pytest.approx(2 * a) for a, b in zip(_agent.RTT_BUCKETS, _agent.RTT_BUCKETS[1:]))
    assert _agent.RTT_BUCKETS[-1] > 20


def families(text):
    from prometheus_client.parser import text_string_to_metric_families
    return dict((family.name, family) for family in text_string_to_metric_families(text))


def cycle(source, peers):
    """A measure() result: {peer: [(family, sent, rtts_ms, error)]}."""
    return {"source": source, "peers": [
        {"name": name, "targets": [{"address": "198.19.0.%d" % index, "family": family, "sent": sent,
                                    "received": len(rtts), "loss": 1 - len(rtts) / sent if sent else 1.0,
                                    "rtts_ms": rtts, "error": error}
                                   for index, (family, sent, rtts, error) in enumerate(targets)]}
        for name, targets in peers.items()]}


def test_the_metrics_parse_with_the_prometheus_parser_and_follow_the_cycles():
    from ansible_collections.nodelatency.monitor.plugins.module_utils._agent_metrics import Metrics
    metrics = Metrics()
    metrics.apply(cycle("n1", {"n2": [("ipv4", 3, [0.1, 0.2, 20.0], None)],
                               "n3": [("ipv6", 3, [], "send failed: Operation not permitted")]}),
                  ended=1000.0, duration=0.5)
    metrics.set_rules({("antrea-gw0", "ipv4", "in", "echo-request"): True,
                       ("antrea-gw0", "ipv4", "out", "echo-reply"): False})
    parsed = families(metrics.text())
    assert parsed["nlm_rtt_seconds"].type == "histogram"
    buckets = dict((sample.labels["le"], sample.value) for sample in parsed["nlm_rtt_seconds"].samples
                   if sample.name == "nlm_rtt_seconds_bucket" and sample.labels["peer"] == "n2")
    # 0.1 ms and 0.2 ms fall in the buckets up to 0.2 ms, 20 ms only from 25.6 ms on
    assert buckets["0.0001"] == 1 and buckets["0.0002"] == 2 and buckets["0.0128"] == 2 and buckets["0.0256"] == 3
    sent = dict((sample.labels["peer"], sample.value) for sample in parsed["nlm_probes_sent"].samples
                if sample.name == "nlm_probes_sent_total")
    assert sent == {"n2": 3.0, "n3": 3.0}
    errors = dict((sample.labels["peer"], sample.value) for sample in parsed["nlm_probe_errors"].samples
                  if sample.name == "nlm_probe_errors_total")
    assert errors == {"n2": 0.0, "n3": 1.0}
    assert [sample.value for sample in parsed["nlm_last_rtt_seconds"].samples] == [0.02]
    rules = dict((sample.labels["direction"], sample.value) for sample in parsed["nlm_rule_present"].samples)
    assert rules == {"in": 1.0, "out": 0.0}
    assert parsed["nlm_last_cycle_timestamp_seconds"].samples[0].value == 1000.0

    # n3 left the peers file: its series go; n2's counters keep counting
    metrics.apply(cycle("n1", {"n2": [("ipv4", 3, [0.1, 0.1, 0.1], None)]}), ended=1060.0,
                  duration=0.4)
    parsed = families(metrics.text())
    peers = set(sample.labels.get("peer") for name in ("nlm_rtt_seconds", "nlm_probes_sent", "nlm_last_rtt_seconds")
                for sample in parsed[name].samples)
    assert peers == {"n2"}
    assert [sample.value for sample in parsed["nlm_probes_sent"].samples if sample.name == "nlm_probes_sent_total"] \
        == [6.0]


class FakeMeasure:
    def __init__(self, fail_on=()):
        self.calls = []
        self.times = []
        self.clock = None
        self.fail_on = set(fail_on)

    def __call__(self, source, targets, count, interval, timeout, payload_size):
        self.calls.append([target["name"] for target in targets])
        self.times.append(self.clock() if self.clock else None)
        if len(self.calls) in self.fail_on:
            raise OSError("no such device")
        return cycle(source, dict((target["name"], [("ipv4", count, [0.1] * count, None)]) for target in targets))


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def service(tmp_path, text, measure, **kwargs):
    from ansible_collections.nodelatency.monitor.plugins.module_utils._agent_metrics import Metrics
    from ansible_collections.nodelatency.monitor.plugins.module_utils._agent_service import Service
    peers = tmp_path / "peers.json"
    peers.write_text(text)
    clock = Clock()
    measure.clock = clock
    return Service(str(peers), Metrics(), measure, clock=clock, sleep=clock.sleep, rng=random.Random(1), **kwargs), \
        peers, clock


def test_the_service_cycles_on_its_interval_and_writes_its_files_whole(tmp_path):
    measure = FakeMeasure()
    agent, _peers, _clock = service(tmp_path, peers_file(interval=10), measure,
                                    textfile=str(tmp_path / "nlm.prom"), latest=str(tmp_path / "latest.json"),
                                    document=node_latency_document_json)
    assert agent.run(cycles=3) == 3
    assert measure.calls == [["n2", "n3"]] * 3
    # one interval apart, give or take the jitter, and on the node's offset
    gaps = [later - earlier for earlier, later in zip(measure.times, measure.times[1:])]
    assert all(abs(gap - 10) <= 2 * _agent.JITTER_SHARE * 10 + 1e-9 for gap in gaps), gaps
    offset = _agent.cycle_offset("n1", 10)
    assert all(abs((start - offset + 5) % 10 - 5) <= _agent.JITTER_SHARE * 10 + 1e-9
               for start in measure.times)
    assert "nlm_probes_sent" in families((tmp_path / "nlm.prom").read_text())
    latest = json.loads((tmp_path / "latest.json").read_text())
    assert (latest["kind"], latest["metadata"]["name"]) == ("NodeLatencyStats", "n1")
    assert [peer["nodeName"] for peer in latest["peerNodeLatencyStats"]] == ["n2", "n3"]
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".nlm-agent-")] == []


def test_the_collector_stays_out_of_the_cycles_and_still_collects_what_leaks():
    import gc
    from ansible_collections.nodelatency.monitor.plugins.module_utils import _agent_service
    before = gc.get_threshold()
    try:
        _agent_service.settle_collector()
        assert gc.get_threshold() == (_agent_service.COLLECTOR_THRESHOLD,) + before[1:]
        assert gc.get_freeze_count() > 0
        # a cycle's worth of containers that live until its end: no collection runs
        collections = sum(generation["collections"] for generation in gc.get_stats())
        cycle = [{"address": "198.18.0.%d" % number, "rtts": {0: number}} for number in range(240) for _copy in range(10)]
        assert sum(generation["collections"] for generation in gc.get_stats()) == collections
        del cycle
        # garbage that only the collector frees is still freed, once enough of it piles up
        for _number in range(_agent_service.COLLECTOR_THRESHOLD + 1000):
            loop = []
            loop.append(loop)
        del loop
        assert sum(generation["collections"] for generation in gc.get_stats()) > collections
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_malformed_reload_keeps_the_previous_peers_and_a_good_one_replaces_them(tmp_path, capsys):
    measure = FakeMeasure()
    agent, peers, _clock = service(tmp_path, peers_file(), measure)
    agent.run(cycles=1)
    peers.write_text("{not json")
    agent.request_reload()
    agent.run(cycles=1)
    assert measure.calls[-1] == ["n2", "n3"]
    assert "keeping the previous ones" in capsys.readouterr().err
    peers.write_text(peers_file(peers=[{"name": "n4", "address": "198.19.4.1"}]))
    agent.request_reload()
    agent.run(cycles=1)
    assert measure.calls[-1] == ["n4"]
    # n2 and n3 left: their series are gone
    sent = families(agent.metrics.text())["nlm_probes_sent"].samples
    assert set(sample.labels["peer"] for sample in sent) == {"n4"}


def test_a_failed_cycle_is_one_line_and_the_next_runs(tmp_path, capsys):
    measure = FakeMeasure(fail_on=[1, 2, 3])
    agent, _peers, _clock = service(tmp_path, peers_file(), measure)
    assert agent.run(cycles=4) == 4
    assert len(measure.calls) == 4
    err = capsys.readouterr().err
    # the same failure three cycles in a row is one line, and the recovery another
    assert err.count("cycle failed: OSError: no such device") == 1 and "cycles succeed again" in err


def test_without_a_readable_peers_file_the_service_waits_for_one(tmp_path, capsys):
    measure = FakeMeasure()
    agent, peers, _clock = service(tmp_path, peers_file(), measure)
    peers.unlink()
    agent.reload()
    assert agent.settings is None and "peers not reloaded" in capsys.readouterr().err
    assert measure.calls == []


@pytest.mark.parametrize("text, expected", [("127.0.0.1:9105", ("127.0.0.1", 9105)), ("[::1]:9105", ("::1", 9105)),
                                            (":9105", ("127.0.0.1", 9105))])
def test_listen_addresses(text, expected):
    from ansible_collections.nodelatency.monitor.plugins.module_utils._agent_service import parse_listen
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["9105", "localhost:http", "127.0.0.1:70000"])
def test_a_bad_listen_address_says_what_is_expected(text):
    from ansible_collections.nodelatency.monitor.plugins.module_utils._agent_service import parse_listen
    with pytest.raises(NlmError, match="listen must be ADDRESS:PORT"):
        parse_listen(text)


class FakeWatch:
    """A RuleWatch whose ruleset is a dict the test changes: labels -> present."""
    ruleset = {}
    failure = None
    made = []

    def __init__(self, settings):
        self.settings = settings
        FakeWatch.made.append(settings)

    def check(self):
        if FakeWatch.failure:
            raise NlmError(FakeWatch.failure)
        found = dict(FakeWatch.ruleset)
        repaired = [labels for labels, present in found.items() if not present] if self.settings["repair"] else []
        return dict((labels, True if labels in repaired else present) for labels, present in found.items()), repaired


RULES = {"interfaces": ["antrea-gw0"], "repair": False}
IN = ("antrea-gw0", "ipv4", "in", "echo-request")
OUT = ("antrea-gw0", "ipv4", "out", "echo-reply")


def rule_samples(agent, name):
    parsed = families(agent.metrics.text())
    return dict((sample.labels["direction"], sample.value) for sample in parsed[name].samples
                if sample.name == name or sample.name == name + "_total")


def test_each_cycle_reads_the_owned_rules_and_repair_puts_them_back_and_counts(tmp_path, capsys):
    FakeWatch.ruleset, FakeWatch.failure, FakeWatch.made = {IN: True, OUT: True}, None, []
    agent, peers, _clock = service(tmp_path, peers_file(rules=RULES), FakeMeasure(), watch_class=FakeWatch)
    agent.run(cycles=1)
    assert rule_samples(agent, "nlm_rule_present") == {"in": 1.0, "out": 1.0}
    FakeWatch.ruleset[OUT] = False
    agent.run(cycles=1)
    assert rule_samples(agent, "nlm_rule_present") == {"in": 1.0, "out": 0.0}
    peers.write_text(peers_file(rules=dict(RULES, repair=True)))
    agent.request_reload()
    agent.run(cycles=1)
    assert FakeWatch.made[-1]["repair"] is True
    assert rule_samples(agent, "nlm_rule_present") == {"in": 1.0, "out": 1.0}
    assert rule_samples(agent, "nlm_rules_repaired") == {"out": 1.0}
    assert "put back the owned rule antrea-gw0 ipv4 out echo-reply" in capsys.readouterr().err


def test_a_ruleset_that_cannot_be_read_is_logged_once_and_probing_goes_on(tmp_path, capsys):
    FakeWatch.ruleset, FakeWatch.failure = {IN: True}, "iptables-save: Permission denied"
    measure = FakeMeasure()
    agent, _peers, _clock = service(tmp_path, peers_file(rules=RULES), measure, watch_class=FakeWatch)
    assert agent.run(cycles=3) == 3 and len(measure.calls) == 3
    assert capsys.readouterr().err.count("cannot read the owned rules: iptables-save: Permission denied") == 1
    FakeWatch.failure = None
    agent.run(cycles=1)
    assert rule_samples(agent, "nlm_rule_present") == {"in": 1.0}


def test_without_rules_in_the_peers_file_no_rule_is_watched(tmp_path):
    FakeWatch.made = []
    agent, _peers, _clock = service(tmp_path, peers_file(), FakeMeasure(), watch_class=FakeWatch)
    agent.run(cycles=1)
    assert FakeWatch.made == [] and families(agent.metrics.text())["nlm_rule_present"].samples == []


@pytest.mark.parametrize("rules, message", [
    ("antrea-gw0", "rules must be an object"),
    ({"interfaces": []}, "rules.interfaces must name at least one interface"),
    ({"interfaces": "antrea-gw0"}, "rules.interfaces must be a list of names"),
    ({"interfaces": ["antrea-gw0"], "repair": "yes"}, "rules.repair must be true or false"),
    ({"interfaces": ["antrea-gw0"], "comment": 7}, "rules.comment must be a string"),
])
def test_a_malformed_rules_part_is_refused(rules, message):
    with pytest.raises(NlmError, match=message):
        _agent.parse_peers_file(peers_file(rules=rules))


def test_the_rule_watch_reads_the_info_report_and_repairs_through_the_rules_logic(monkeypatch):
    from ansible_collections.nodelatency.monitor.plugins.module_utils import _agent_rules, _icmp_allow
    ruleset = {"present": False}
    calls = []

    class Info:
        def __init__(self, module):
            calls.append(("info", module.params))

        def run(self):
            entry = {"interface": "antrea-gw0", "direction": "out", "message": "echo-reply",
                     "present": ruleset["present"]}
            return {"icmp_allow": {"ipv4": {"rules": [entry]}}}

    class Allow:
        def __init__(self, module):
            calls.append(("allow", module.params))

        def run(self):
            ruleset["present"] = True

    monkeypatch.setattr(_icmp_allow, "IcmpAllowInfo", Info)
    monkeypatch.setattr(_icmp_allow, "IcmpAllow", Allow)
    watch = _agent_rules.RuleWatch({"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"], "repair": True})
    assert watch.check() == ({OUT: True}, [OUT])
    assert [kind for kind, _params in calls] == ["info", "allow", "info"]
    allow = calls[1][1]
    # live only, and nothing the role did not ask for
    assert allow["persist"] is False and allow["state"] == "present" and allow["interfaces"] == ["antrea-gw0"]
    calls.clear()
    assert watch.check() == ({OUT: True}, [])
    assert [kind for kind, _params in calls] == ["info"]
