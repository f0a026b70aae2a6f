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
    """A child process started now; finish() waits for it and keeps wall and CPU (user + system) seconds and output."""

    def __init__(self, argv, stdin_text=None):
        self._argv = argv
        self._output = tempfile.TemporaryFile("w+")
        self._errors = tempfile.TemporaryFile("w+")
        self._started = time.monotonic()
        self._process = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
                                         stdout=self._output, stderr=self._errors, text=True)
        if stdin_text is not None:
            self._process.stdin.write(stdin_text)
            self._process.stdin.close()

    def finish(self, timeout=600):
        deadline = self._started + timeout
        while True:
            pid, status, usage = os.wait4(self._process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                self._process.kill()
                self._process.wait()
                raise RuntimeError("%s did not finish within %d s" % (self._argv[0], timeout))
            time.sleep(0.001)
        self.wall_seconds = time.monotonic() - self._started
        self.cpu_seconds = usage.ru_utime + usage.ru_stime
        self.returncode = os.waitstatus_to_exitcode(status)
        # wait4 reaped the child already; tell Popen so that it does not try again.
        self._process.returncode = self.returncode
        for stream in (self._output, self._errors):
            stream.seek(0)
        self.stdout = self._output.read()
        self.stderr = self._errors.read()
        self._output.close()
        self._errors.close()
        return self


def in_netns(netns, argv):
    return ["ip", "netns", "exec", netns, *argv]


def module_command(netns, args_path):
    return in_netns(netns, ["env", "PYTHONPATH=%s" % (REPO / ".collections"), PYTHON, "-m", MODULE, str(args_path)])


def module_args_file(args):
    """A temporary file with the module's arguments, as Ansible hands them over; the caller removes it."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    return handle.name


def module_latency(timed):
    """nlm_latency from a finished module run."""
    if timed.returncode != 0:
        raise RuntimeError("nlm_probe failed: %s %s" % (timed.stdout, timed.stderr))
    return json.loads(timed.stdout)["ansible_facts"]["nlm_latency"]


def run_module(netns, args):
    """The nlm_probe module as Ansible runs it on a node (module process only); returns (Timed, nlm_latency)."""
    args_path = module_args_file(args)
    try:
        timed = Timed(module_command(netns, args_path)).finish()
    finally:
        os.unlink(args_path)
    return timed, module_latency(timed)


def run_engine(netns, args):
    """The probe engine alone; returns (Timed, engine CPU seconds, nlm_latency)."""
    timed = Timed(in_netns(netns, ["env", "PYTHONPATH=%s" % (REPO / ".collections"), PYTHON, "-c", ENGINE_SNIPPET]),
                  stdin_text=json.dumps(args)).finish()
    if timed.returncode != 0:
        raise RuntimeError("probe engine failed: %s" % timed.stderr)
    result = json.loads(timed.stdout)
    return timed, result["cpu_seconds"], result["facts"]


def ping_command(netns, address, count, interval):
    return in_netns(netns, ["ping", "-n", "-c", str(count), "-i", str(interval), address])


def ping_rtts(stdout):
    """RTTs (ms) from iputils ping's output."""
    return [float(value) for value in re.findall(r"time=([0-9.]+) ms", stdout)]


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


def multiping_command(netns, address, count, interval):
    """icmplib's multiping on one host, printing its RTTs (ms) as JSON."""
    snippet = ("import json, icmplib; host = icmplib.multiping([%r], count=%d, interval=%r, timeout=1, privileged=True)[0];"
               " print(json.dumps(host.rtts))" % (address, count, interval))
    return in_netns(netns, [PYTHON, "-c", snippet])


def median(values):
    return statistics.median(values) if values else None
