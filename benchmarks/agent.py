"""The nlm agent beside fping: CPU per cycle and memory, and no growth over many cycles.

A prober namespace and a responder namespace that holds 239 target addresses (one per
peer of a 240-node cluster; probe_scale.Pair). The agent, started as its unit starts it
(the entry point, a peers file, metrics served on loopback), probes them every second,
3 echoes each 200 ms apart; its CPU (user + system, from /proc) over 100 cycles, per
cycle, stands beside fping's CPU for the same targets and count (`fping -C 3 -p 200`),
the median of as many runs. Its resident memory after those cycles has a goal of its
own (40 MB).

The agent runs with the interpreter it has on a node: the role's virtual environment
(nlm_python_venv) is made from the node's own Python, so here a virtual environment of
the distribution's /usr/bin/python3 (Debian's, as on the machine lab's nodes) with the
node libraries from the lab's wheels. The same cycles with the interpreter of this
checkout's .venv (a pyenv build without profile-guided optimisation) are a row of
information: the interpreter alone moved the figure by about a quarter (2026-12-02).

Then the service's cycle runs 1,000 times 0.1 s apart (10 targets, 1 echo each), in
one process as the agent runs it, and its open file descriptors and resident memory
at cycle 100 and at the end must be the same (memory within 256 KB, what the
allocator moves on its own): a leak of a socket or of a few hundred bytes per cycle
shows.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks import harness
from benchmarks.probe_common import PYTHON, REPO, Timed, fping_command, in_netns
from benchmarks.probe_scale import Pair, target_addresses

import nlmmachines  # noqa: E402  (lab/, on the path through harness)

PEERS = 239
SMOKE_PEERS = 10
CYCLES = 100
SMOKE_CYCLES = 3
COUNT = 3
PROBE_INTERVAL = 0.2
TIMEOUT = 1.0
CPU_GOAL = 1.5
RSS_GOAL_MB = 40.0
GROWTH_CYCLES = 1000
SMOKE_GROWTH_CYCLES = 30
GROWTH_TARGETS = 10
GROWTH_INTERVAL = 0.1
MEMORY_SLACK_KB = 256
AGENT = REPO / "roles" / "nlm" / "files" / "nlm-agent.py"
NODE_REQUIREMENTS = REPO / "roles" / "nlm" / "files" / "requirements-node.txt"
SYSTEM_PYTHON = Path("/usr/bin/python3")
NODE_VENV = REPO / ".cache" / "bench" / "node-venv"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The service's cycle, as the agent runs it, without its schedule (whose interval is at
# least 1 s): file descriptors and resident memory at the marked cycles.
GROWTH_DRIVER = """
import json, os, sys, time
from ansible_collections.nodelatency.monitor.plugins.module_utils._agent_metrics import Metrics
from ansible_collections.nodelatency.monitor.plugins.module_utils._agent_service import Service
from ansible_collections.nodelatency.monitor.plugins.module_utils._probe import measure
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_stats import node_latency_document_json
args = json.load(sys.stdin)
service = Service(args["peers"], Metrics(), measure, textfile=args["textfile"], latest=args["latest"],
                  document=node_latency_document_json)
assert service.reload()
marks = []
for number in range(1, args["cycles"] + 1):
    started = time.monotonic()
    service.cycle()
    if number in args["marks"]:
        rss = [line for line in open("/proc/self/status") if line.startswith("VmRSS:")][0].split()[1]
        marks.append({"cycle": number, "fds": len(os.listdir("/proc/self/fd")), "rss_kb": int(rss)})
    time.sleep(max(0.0, args["interval"] - (time.monotonic() - started)))
print(json.dumps(marks))
"""


def node_python() -> str:
    """The interpreter the agent runs with on a node, as the role sets it up: a virtual
    environment of the distribution's Python with the node libraries, made once (offline,
    from the machine lab's wheels). Without a distribution Python, this checkout's."""
    if not SYSTEM_PYTHON.exists():
        return PYTHON
    python = NODE_VENV / "bin" / "python"
    stamp = NODE_VENV / (".installed-%s" % hashlib.sha256(NODE_REQUIREMENTS.read_bytes()).hexdigest()[:16])
    if not stamp.exists():
        wheels = nlmmachines.wheel_directory()
        for argv in ([str(SYSTEM_PYTHON), "-m", "venv", "--clear", str(NODE_VENV)],
                     [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-index",
                      "--find-links", str(wheels), "--requirement", str(NODE_REQUIREMENTS)]):
            made = subprocess.run(argv, capture_output=True, text=True, check=False)
            if made.returncode != 0:
                raise RuntimeError("could not make the node interpreter's virtual environment (%s): %s"
                                   % (" ".join(argv), made.stderr[-2000:]))
        stamp.touch()
    return str(python)


def _peers_file(directory: Path, addresses, interval, count, timeout, rules=None) -> Path:
    path = directory / "peers.json"
    content = {
        "source": "bench", "interval": interval, "count": count, "probe_interval": PROBE_INTERVAL,
        "timeout": timeout,
        "peers": [{"name": "peer%d" % index, "address": [address]} for index, address in enumerate(addresses)]}
    if rules:
        content["rules"] = rules
    path.write_text(json.dumps(content))
    return path


def _cpu_seconds(pid: int) -> float:
    fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _rss_mb(pid: int) -> float:
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS for %d" % pid)


def _agent_figures(prober: str, addresses, cycles: int, directory: Path, python: str, rules=None) -> dict:
    """CPU seconds per cycle of the agent running with ``python``, over ``cycles`` cycles after its first,
    and its RSS."""
    peers = _peers_file(directory, addresses, 1, COUNT, TIMEOUT, rules)
    latest = directory / "latest.json"
    env = dict(os.environ, PYTHONPATH=str(REPO / ".collections"))
    log = open(directory / "agent.log", "w+", encoding="utf-8")
    # the agent runs in the namespace itself: /proc/<pid> is its own process, not ip's
    process = subprocess.Popen(
        in_netns(prober, [python, str(AGENT), "--peers", str(peers), "--listen", "127.0.0.1:9469",
                          "--latest", str(latest)]), env=env, stdout=log, stderr=log)
    try:
        def next_cycle(after: float, timeout: float) -> float:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if latest.exists() and latest.stat().st_mtime_ns > after:
                    return latest.stat().st_mtime_ns
                if process.poll() is not None:
                    raise RuntimeError("the agent ended: %s" % (directory / "agent.log").read_text()[-2000:])
                time.sleep(0.02)
            raise RuntimeError("no cycle of the agent within %g s" % timeout)

        stamp = next_cycle(0, 30)
        cpu_start = _cpu_seconds(process.pid)
        for _cycle in range(cycles):
            stamp = next_cycle(stamp, 10)
        cpu = _cpu_seconds(process.pid) - cpu_start
        document = json.loads(latest.read_text())
        answered = sum(1 for peer in document["peerNodeLatencyStats"] for target in peer["targetIPLatencyStats"]
                       if target["received"] == COUNT)
        if answered != len(addresses):
            raise RuntimeError("the agent's last cycle heard all %d echoes from only %d of %d targets"
                               % (COUNT, answered, len(addresses)))
        return {"cpu_per_cycle": cpu / cycles, "rss_mb": _rss_mb(process.pid), "cycles": cycles}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _fping_cpu(prober: str, addresses, runs: int) -> float:
    figures = []
    for _run in range(runs):
        timed = Timed(fping_command(prober, addresses, COUNT, PROBE_INTERVAL, TIMEOUT)).finish()
        if timed.returncode != 0:
            raise RuntimeError("fping lost echoes (exit %d): %s" % (timed.returncode, timed.stderr[-2000:]))
        figures.append(timed.cpu_seconds)
    return statistics.median(figures)


def _growth(prober: str, addresses, cycles: int, directory: Path, python: str) -> list:
    peers = _peers_file(directory, addresses, 1, 1, 0.5)
    first = min(100, cycles // 3)
    args = {"peers": str(peers), "textfile": str(directory / "growth.prom"), "latest": str(directory / "growth.json"),
            "cycles": cycles, "interval": GROWTH_INTERVAL, "marks": [first, cycles]}
    timed = Timed(in_netns(prober, ["env", "PYTHONPATH=%s" % (REPO / ".collections"), python, "-c", GROWTH_DRIVER]),
                  stdin_text=json.dumps(args)).finish(timeout=cycles * GROWTH_INTERVAL * 5 + 60)
    if timed.returncode != 0:
        raise RuntimeError("the growth driver failed: %s" % timed.stderr[-3000:])
    return json.loads(timed.stdout)


def rows(repeats: int, smoke: bool) -> list[harness.Row]:
    del repeats  # the cycles are the repeats here
    size = SMOKE_PEERS if smoke else PEERS
    cycles = SMOKE_CYCLES if smoke else CYCLES
    growth_cycles = SMOKE_GROWTH_CYCLES if smoke else GROWTH_CYCLES
    addresses = target_addresses(size)
    harness.progress("agent: %d peers, %d cycles of 1 s beside %d fping runs; %d cycles of %g s"
                     % (size, cycles, min(cycles, 20), growth_cycles, GROWTH_INTERVAL))
    with Pair(addresses) as pair, tempfile.TemporaryDirectory(prefix="nlm-bench-agent-") as temporary:
        directory = Path(temporary)
        python = node_python()
        agent = _agent_figures(pair.prober, addresses, cycles, directory, python)
        fping = _fping_cpu(pair.prober, addresses, min(cycles, 20))
        checkout = _agent_figures(pair.prober, addresses, cycles, directory, PYTHON)
        # as the role runs it: also reading the ruleset each cycle (the prober's is empty)
        watching = _agent_figures(pair.prober, addresses, min(cycles, 20), directory, python,
                                  rules={"interfaces": ["antrea-gw0"]})
        marks = _growth(pair.prober, addresses[:GROWTH_TARGETS], growth_cycles, directory, python)
    first, last = marks[0], marks[-1]
    fd_growth = last["fds"] - first["fds"]
    rss_growth = last["rss_kb"] - first["rss_kb"]
    details = {"peers": size, "cycles": cycles, "python": python, "agent": agent, "checkout_python": PYTHON,
               "checkout": checkout, "watching": watching, "fping_cpu_per_run": fping, "growth": marks}
    cpu_ratio = agent["cpu_per_cycle"] / fping if fping else None
    return [
        harness.Row("agent: CPU per cycle, %d peers x %d echoes" % (size, COUNT), agent["cpu_per_cycle"], fping, "s",
                    "fping -C %d" % COUNT, "<= %.1fx" % CPU_GOAL, cpu_ratio is not None and cpu_ratio <= CPU_GOAL,
                    details),
        harness.Row("agent: CPU per cycle, the same with this checkout's Python", checkout["cpu_per_cycle"], fping,
                    "s", "fping -C %d" % COUNT, "information", None, details),
        harness.Row("agent: CPU per cycle, the same and the rule watch", watching["cpu_per_cycle"], fping, "s",
                    "fping -C %d" % COUNT, "information", None, details),
        harness.Row("agent: resident memory after %d cycles" % cycles, agent["rss_mb"], RSS_GOAL_MB, "MB",
                    "goal", "<= %d MB" % RSS_GOAL_MB, agent["rss_mb"] <= RSS_GOAL_MB, details),
        harness.Row("agent: open files, cycle %d to %d" % (first["cycle"], last["cycle"]), float(fd_growth), 0.0,
                    "fds", "none", "no growth", fd_growth == 0, details),
        harness.Row("agent: resident memory, cycle %d to %d" % (first["cycle"], last["cycle"]), float(rss_growth),
                    0.0, "KB", "none", "< %d KB" % MEMORY_SLACK_KB, rss_growth < MEMORY_SLACK_KB, details),
    ]
