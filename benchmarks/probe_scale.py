"""nlm_probe at scale beside fping: one prober, 10 / 100 / 1,000 target addresses, wall and CPU time.

Two namespaces of its own (nlmbench-<random>-p and -r, veth, 198.18.200.0/24);
the responder holds the target addresses (198.18.64.0/22) on lo and the prober
routes them to it. Everything is removed afterwards, also after a failure.

    python benchmarks/probe_scale.py [--sizes 10,100,1000] [--repeats 5] [--count 3] [--interval 0.2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
from pathlib import Path

# Run as a script or imported as benchmarks.<name> by make bench.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.probe_common import Timed, fping_command, fping_rtts, median, run_engine, run_module  # noqa: E402

PROBER_ADDRESS = "198.18.200.1"
RESPONDER_ADDRESS = "198.18.200.2"
TARGET_NETWORK = "198.18.64.0/22"
WALL_GOAL = 1.1
CPU_GOAL = 2.0


def target_addresses(count):
    return ["198.18.%d.%d" % (64 + index // 250, 1 + index % 250) for index in range(count)]


class Pair:
    """A prober and a responder namespace joined by a veth pair."""

    def __init__(self, addresses):
        token = secrets.token_hex(3)
        self.prober = "nlmbench-%s-p" % token
        self.responder = "nlmbench-%s-r" % token
        self._link = "nlmb%s" % token
        self._addresses = addresses

    def __enter__(self):
        try:
            self._ip(["netns", "add", self.prober])
            self._ip(["netns", "add", self.responder])
            self._ip(["link", "add", self._link + "p", "netns", self.prober, "type", "veth",
                      "peer", "name", self._link + "r", "netns", self.responder])
            self._batch(self.prober, ["link set lo up", "link set %sp up" % self._link,
                                      "address add %s/24 dev %sp" % (PROBER_ADDRESS, self._link),
                                      "route add %s via %s" % (TARGET_NETWORK, RESPONDER_ADDRESS)])
            self._batch(self.responder, ["link set lo up", "link set %sr up" % self._link,
                                         "address add %s/24 dev %sr" % (RESPONDER_ADDRESS, self._link)]
                        + ["address add %s/32 dev lo" % address for address in self._addresses])
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info):
        for netns in (self.prober, self.responder):
            subprocess.run(["ip", "netns", "delete", netns], capture_output=True, check=False)

    @staticmethod
    def _ip(argv):
        subprocess.run(["ip", *argv], check=True, capture_output=True, text=True)

    def _batch(self, netns, commands):
        subprocess.run(["ip", "-netns", netns, "-batch", "-"], input="\n".join(commands) + "\n",
                       check=True, capture_output=True, text=True)


def measure(sizes=(10, 100, 1000), repeats=5, count=3, interval=0.2, timeout=1.0):
    """Median wall and CPU seconds of nlm_probe and fping per target count.

    nlm_probe is measured as the module process Ansible starts on a node
    (interpreter and imports included), by its own duration_seconds (the
    probing), and as the engine's CPU time alone; and the module process with
    no targets: the start-up and exit every run of the module pays.
    """
    rows = []
    with Pair(target_addresses(max(sizes))) as pair:
        for size in sizes:
            addresses = target_addresses(size)
            args = {"count": count, "interval": interval, "timeout": timeout, "payload_size": 56}
            samples = {"module_wall": [], "probe_seconds": [], "module_cpu": [], "engine_cpu": [], "fping_wall": [],
                       "fping_cpu": [], "empty_module_wall": [], "empty_module_cpu": []}
            for _repeat in range(repeats):
                empty, _facts = run_module(pair.prober, dict(args, targets=[]))
                samples["empty_module_wall"].append(empty.wall_seconds)
                samples["empty_module_cpu"].append(empty.cpu_seconds)
                module, facts = run_module(pair.prober, dict(args, targets=addresses))
                received = sum(target["received"] for peer in facts["peers"] for target in peer["targets"])
                _engine, engine_cpu, _facts = run_engine(pair.prober, dict(args, targets=addresses))
                fping = Timed(fping_command(pair.prober, addresses, count, interval, timeout)).finish()
                fping_received = sum(len(rtts) for rtts in fping_rtts(fping.stderr).values())
                if received != size * count or fping_received != size * count:
                    raise RuntimeError("lost probes: nlm_probe %d, fping %d of %d"
                                       % (received, fping_received, size * count))
                samples["module_wall"].append(module.wall_seconds)
                samples["probe_seconds"].append(facts["duration_seconds"])
                samples["module_cpu"].append(module.cpu_seconds)
                samples["engine_cpu"].append(engine_cpu)
                samples["fping_wall"].append(fping.wall_seconds)
                samples["fping_cpu"].append(fping.cpu_seconds)
            row = dict((name, median(values)) for name, values in samples.items())
            row.update(targets=size, count=count, interval=interval,
                       wall_ratio=row["module_wall"] / row["fping_wall"],
                       probe_wall_ratio=row["probe_seconds"] / row["fping_wall"],
                       module_cpu_ratio=row["module_cpu"] / row["fping_cpu"],
                       engine_cpu_ratio=row["engine_cpu"] / row["fping_cpu"])
            rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--count", type=int, default=3, help="requests per target")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between rounds")
    parser.add_argument("--json")
    options = parser.parse_args(argv)
    rows = measure([int(size) for size in options.sizes.split(",")], options.repeats, options.count, options.interval)
    print("%8s %13s %11s %12s %12s %6s %13s %12s %12s %6s %6s" % (
        "targets", "module wall s", "probing s", "fping wall s", "module/fping", "prob.",
        "module cpu s", "engine cpu s", "fping cpu s", "module", "engine"))
    for row in rows:
        print("%8d %13.3f %11.3f %12.3f %12.2f %6.2f %13.3f %12.3f %12.3f %6.2f %6.2f" % (
            row["targets"], row["module_wall"], row["probe_seconds"], row["fping_wall"], row["wall_ratio"],
            row["probe_wall_ratio"], row["module_cpu"], row["engine_cpu"], row["fping_cpu"],
            row["module_cpu_ratio"], row["engine_cpu_ratio"]))
    print("goals: wall ratio <= %.1f, CPU ratio <= %.1f" % (WALL_GOAL, CPU_GOAL))
    if options.json:
        Path(options.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
