# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nlm agent's service loop: probe the chosen peers every interval, keep the metrics,
serve them, and write the latest cycle where the role's collection finds it.

Run by ``roles/nlm/files/nlm-agent.py --peers FILE [--listen ADDRESS:PORT] [--textfile FILE]
[--latest FILE]``, with this collection's module_utils on the Python path. SIGHUP reads the
peers file again (a file that cannot be read or parsed is logged in one line and the
previous peers stay); SIGTERM ends the loop after the cycle under way. Every problem is
one line on stderr, which systemd puts in the journal; the loop itself never gives up on
a failed cycle.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time

from ansible_collections.nodelatency.monitor.plugins.module_utils import _agent
from ansible_collections.nodelatency.monitor.plugins.module_utils._agent_rules import RuleWatch
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError


# The cycle collector's first threshold for the agent's process. A cycle makes a few
# thousand containers (each target's record, summary and document, each reply's tuples)
# that reference counting frees when the cycle ends; at the default of 700 the collector
# walked them some three times a cycle and found nothing, 3 to 4% of a cycle's CPU.
COLLECTOR_THRESHOLD = 100_000


def settle_collector():
    """Keep the cycle collector out of the cycles: what start-up made is frozen (a full
    collection no longer walks every imported module), and it starts only after
    COLLECTOR_THRESHOLD more containers than were freed, which a cycle leaves no more of
    than it found unless something leaks."""
    gc.freeze()
    gc.set_threshold(COLLECTOR_THRESHOLD, *gc.get_threshold()[1:])


def log(message):
    sys.stderr.write("nlm-agent: %s\n" % message)
    sys.stderr.flush()


def write_atomically(path, text):
    """Replace path's content at once: a reader (node_exporter, the role) never sees half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".nlm-agent-", dir=directory)
    try:
        os.fchmod(handle, 0o644)
        # bytes, in one write: no text layer for a file of some 140 KB every cycle
        with os.fdopen(handle, "wb") as output:
            output.write(text.encode("utf-8"))
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


class Service:
    """One agent: its settings, its metrics, and the loop."""

    def __init__(self, peers_path, metrics, measure, textfile=None, latest=None, clock=time.time,
                 sleep=None, rng=random, watch_class=RuleWatch, document=None):
        self.peers_path = peers_path
        # the latest file's JSON text, made of the cycle's nlm_latency fact
        self.document = document or (lambda latency: json.dumps({"nlm_latency": latency}))
        self.watch_class = watch_class
        # the problem each part of a cycle last had, so that one repeated every cycle is logged once
        self._problems = {}
        self.metrics = metrics
        self.measure = measure
        self.textfile = textfile
        self.latest = latest
        self.clock = clock
        self.rng = rng
        self.settings = None
        self.targets = []
        self.stopping = threading.Event()
        self.sleep = sleep or self.stopping.wait
        self._reload_wanted = True

    def reload(self):
        """Read the peers file; keep the previous settings when it cannot be used."""
        self._reload_wanted = False
        try:
            with open(self.peers_path, encoding="utf-8") as handle:
                text = handle.read()
            settings = _agent.parse_peers_file(text, self.peers_path)
        except (OSError, NlmError) as err:
            log("peers not reloaded (%s)%s" % (err, "; keeping the previous ones" if self.settings else ""))
            return False
        self.settings = settings
        # the sample depends on the peers file alone: made once per reload, not every cycle
        self.targets = _agent.chosen_targets(settings)
        log("%d peers in %s, %d probed, every %g s"
            % (len(settings["peers"]), self.peers_path, len(self.targets), settings["interval"]))
        return True

    def request_reload(self, *_args):
        self._reload_wanted = True

    def stop(self, *_args):
        self.stopping.set()

    def cycle(self):
        """Probe once and publish what came back."""
        settings = self.settings
        started = self.clock()
        latency = self.measure(settings["source"], self.targets, settings["count"],
                               settings["probe_interval"], settings["timeout"], settings["payload_size"])
        # the rules first: the cycle's time stamp, set last, says the whole cycle is in
        if settings.get("rules"):
            self.watch_rules(settings["rules"])
        ended = self.clock()
        self.metrics.apply(latency, ended=ended, duration=ended - started)
        if self.textfile:
            write_atomically(self.textfile, self.metrics.text())
        if self.latest:
            write_atomically(self.latest, self.document(latency) + "\n")
        return latency

    def watch_rules(self, rules):
        """Read the owned rules (and put missing ones back with repair on) into the metrics.
        A problem is logged once, not every cycle, and logged again when it changes."""
        try:
            presence, repaired = self.watch_class(rules).check()
        except (NlmError, OSError) as err:
            self._note("rules", "cannot read the owned rules: %s" % err)
        else:
            self._note("rules", None)
            self.metrics.set_rules(presence, repaired)
            for labels in repaired:
                log("put back the owned rule %s" % " ".join(labels))

    def _note(self, part, problem, recovered=None):
        """Log ``problem`` of ``part`` when it differs from the last one; None clears it
        (and logs ``recovered``, if given, after a problem)."""
        last = self._problems.get(part)
        if problem and problem != last:
            log(problem)
        elif problem is None and last and recovered:
            log(recovered)
        self._problems[part] = problem

    def run(self, cycles=None):
        """Cycle until stopped (or ``cycles`` times)."""
        done = 0
        while not self.stopping.is_set() and (cycles is None or done < cycles):
            if self._reload_wanted:
                self.reload()
            if self.settings is None:
                # nothing to probe yet: look again at the next minimum interval
                self.sleep(_agent.MIN_INTERVAL)
                continue
            start = _agent.next_start(self.settings["source"], self.settings["interval"], self.clock(), self.rng)
            self.sleep(max(0.0, start - self.clock()))
            if self.stopping.is_set():
                break
            if self._reload_wanted:
                continue
            try:
                self.cycle()
            except Exception as err:  # pylint: disable=broad-except
                # a failed cycle is one line in the journal, and the same failure again
                # (a capability missing, every cycle) is not repeated; the next cycle runs as planned
                self._note("cycle", "cycle failed: %s: %s" % (type(err).__name__, err))
            else:
                self._note("cycle", None, recovered="cycles succeed again")
            done += 1
        return done


def parse_listen(text):
    """(address, port) from ADDRESS:PORT or [IPv6]:PORT."""
    host, separator, port = text.rpartition(":")
    if not separator or not port.isdigit() or not 0 < int(port) < 65536:
        raise NlmError("listen must be ADDRESS:PORT, not %r" % text)
    return host.strip("[]") or "127.0.0.1", int(port)


def main(argv=None, document=None):
    """The agent's command line; ``document`` makes the latest file's JSON text of a cycle's
    nlm_latency fact (the entry point gives the NodeLatencyStats document's)."""
    parser = argparse.ArgumentParser(prog="nlm-agent", description="nodelatency.monitor's continuous monitor")
    parser.add_argument("--peers", required=True, help="the peers file the nlm role renders")
    parser.add_argument("--listen", default="", help="ADDRESS:PORT to serve the metrics on (none if empty)")
    parser.add_argument("--textfile", default="", help="a node_exporter textfile to write after each cycle")
    parser.add_argument("--latest", default="", help="a JSON file with the latest cycle's NodeLatencyStats")
    options = parser.parse_args(argv)
    from ansible_collections.nodelatency.monitor.plugins.module_utils._agent_metrics import Metrics
    from ansible_collections.nodelatency.monitor.plugins.module_utils._probe import measure
    try:
        metrics = Metrics()
    except NlmError as err:
        log(str(err))
        return 1
    try:
        listen = parse_listen(options.listen) if options.listen else None
    except NlmError as err:
        # as with a port in use: the probing, the textfile and the latest cycle go on
        log("%s; the metrics are not served, probing goes on" % err)
        listen = None
    service = Service(options.peers, metrics, measure, options.textfile or None, options.latest or None,
                      document=document)
    if listen:
        from prometheus_client import start_http_server
        try:
            start_http_server(listen[1], addr=listen[0], registry=metrics.registry)
        except OSError as err:
            # probing goes on: the textfile and the latest cycle still say what the agent sees
            log("cannot serve the metrics on %s (%s); probing goes on" % (options.listen, err))
    signal.signal(signal.SIGHUP, service.request_reload)
    signal.signal(signal.SIGTERM, service.stop)
    signal.signal(signal.SIGINT, service.stop)
    settle_collector()
    service.run()
    return 0
