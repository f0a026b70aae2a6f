"""What the nlm_probe benchmarks share: running a program in a namespace and timing it, the tools' parsers."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MODULE = "ansible_collections.nodelatency.monitor.plugins.modules.nlm_probe"
# Runs the probe engine alone (no AnsibleModule, no interpreter start-up in the
# figure) and prints its result with the CPU time the probing itself took.
ENGINE_SNIPPET = """
import json, sys, time
from ansible_collections.nodelatency.monitor.plugins.module_utils import _probe
args = json.load(sys.stdin)
cpu = time.process_time()
facts = _probe.measure("bench", **args)
print(json.dumps({"cpu_seconds": time.process_time() - cpu, "facts": facts}))
"""


class Timed:
    """Wall and CPU (user + system) seconds of one child process, and its output."""

    def __init__(self, argv, stdin_text=None, timeout=600):
        started = time.monotonic()
        with tempfile.TemporaryFile("w+") as output, tempfile.TemporaryFile("w+") as errors:
            process = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
                                       stdout=output, stderr=errors, text=True)
            if stdin_text is not None:
                process.stdin.write(stdin_text)
                process.stdin.close()
            deadline = started + timeout
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeError("%s did not finish within %d s" % (argv[0], timeout))
                time.sleep(0.001)
            process.returncode = os.waitstatus_to_exitcode(status)
            self.wall_seconds = time.monotonic() - started
            self.cpu_seconds = usage.ru_utime + usage.ru_stime
            output.seek(0)
            errors.seek(0)
            self.stdout = output.read()
            self.stderr = errors.read()
            self.returncode = process.returncode


def in_netns(netns, argv):
    return ["ip", "netns", "exec", netns, *argv]


def run_module(netns, args):
    """The nlm_probe module as Ansible runs it on a node (module process only); returns (Timed, nlm_latency)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    try:
        timed = Timed(in_netns(netns, ["env", "PYTHONPATH=%s" % (REPO / ".collections"), PYTHON, "-m", MODULE,
                                       handle.name]))
    finally:
        os.unlink(handle.name)
    if timed.returncode != 0:
        raise RuntimeError("nlm_probe failed: %s %s" % (timed.stdout, timed.stderr))
    return timed, json.loads(timed.stdout)["ansible_facts"]["nlm_latency"]


def run_engine(netns, args):
    """The probe engine alone; returns (Timed, engine CPU seconds, nlm_latency)."""
    timed = Timed(in_netns(netns, ["env", "PYTHONPATH=%s" % (REPO / ".collections"), PYTHON, "-c", ENGINE_SNIPPET]),
                  stdin_text=json.dumps(args))
    if timed.returncode != 0:
        raise RuntimeError("probe engine failed: %s" % timed.stderr)
    result = json.loads(timed.stdout)
    return timed, result["cpu_seconds"], result["facts"]


def ping_rtts(netns, address, count, interval):
    """RTTs (ms) of iputils ping."""
    timed = Timed(in_netns(netns, ["ping", "-n", "-c", str(count), "-i", str(interval), address]))
    return [float(value) for value in re.findall(r"time=([0-9.]+) ms", timed.stdout)]


def fping_command(netns, addresses, count, interval, timeout):
    return in_netns(netns, ["fping", "-C", str(count), "-p", str(int(interval * 1000)), "-i", "0",
                            "-t", str(int(timeout * 1000)), "-q", *addresses])


def fping_rtts(stderr):
    """{address: [RTT ms, ...]} from fping -C -q output ('-' for a lost probe is left out)."""
    rtts = {}
    for line in stderr.splitlines():
        address, _separator, values = line.partition(" : ")
        if values:
            rtts[address.strip()] = [float(value) for value in values.split() if value != "-"]
    return rtts


def multiping_rtts(netns, address, count, interval):
    """RTTs (ms) of icmplib's multiping, one host."""
    snippet = ("import json, icmplib; host = icmplib.multiping([%r], count=%d, interval=%r, timeout=1, privileged=True)[0];"
               " print(json.dumps(host.rtts))" % (address, count, interval))
    timed = Timed(in_netns(netns, [PYTHON, "-c", snippet]))
    return json.loads(timed.stdout)


def median(values):
    return statistics.median(values) if values else None
