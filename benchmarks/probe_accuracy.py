"""nlm_probe's RTT beside iputils ping, fping and icmplib multiping on lab links with 0, 5 and 50 ms of delay.

A 3-node lab of its own (no firewall, delay n1-n2 and n1-n3, none on n2-n3).
Each repeat runs one tool and iputils ping at the same time over the same link;
a tool's error is the median over repeats of its median RTT minus ping's. A second
iputils ping measured the same way is the control: its error is the method's own
noise, the most any tool's error can be trusted to.

    python benchmarks/probe_accuracy.py [--repeats 5] [--count 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path

# Run as a script or imported as benchmarks.<name> by make bench.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.probe_common import (  # noqa: E402
    REPO, Timed, fping_command, fping_rtts, median, module_args_file, module_command, module_latency,
    multiping_command, ping_command, ping_rtts)

sys.path.insert(0, str(REPO / "lab"))

import nlmlab  # noqa: E402

LINKS = (("n2", "n3", 0.0), ("n1", "n2", 5.0), ("n1", "n3", 50.0))
# iputils ping is the reference every other tool runs beside; "ping" among the tools
# is a second iputils ping, the control.
TOOLS = ("ping", "nlm_probe", "fping", "multiping", "ping")
GOALS = {0.0: "within 0.020 ms", 5.0: "within 1 %", 50.0: "within 1 %"}


def tool_run(tool, netns, address, count, interval, args_path):
    """(argv, function from the finished run to its RTTs in ms) of one tool."""
    if tool == "nlm_probe":
        return module_command(netns, args_path), lambda timed: module_latency(timed)["peers"][0]["targets"][0]["rtts_ms"]
    if tool == "ping":
        return ping_command(netns, address, count, interval), lambda timed: ping_rtts(timed.stdout)
    if tool == "fping":
        return fping_command(netns, [address], count, interval, 1.0), lambda timed: fping_rtts(timed.stderr).get(address, [])
    return multiping_command(netns, address, count, interval), lambda timed: json.loads(timed.stdout)


def measure(repeats=5, count=100, interval=0.05, state_dir=None):
    """Per link and tool: median RTT (ms), and its error against iputils ping run at the same time on the same link.

    The lab's delay comes from a user-space NFQUEUE program whose own jitter
    (up to milliseconds) dwarfs the differences between the tools; running
    each tool side by side with ping exposes both to the same jitter.
    """
    delay = ",".join("%s-%s=%gms" % (source, peer, milliseconds) for source, peer, milliseconds in LINKS if milliseconds)
    lab = nlmlab.Lab(name="pa" + secrets.token_hex(3), nodes=3, firewall="none", mode="encap", delay=delay,
                     state_dir=state_dir or REPO / ".cache" / "bench-probe-accuracy")
    rows = []
    try:
        lab.up()
        for source_name, peer_name, milliseconds in LINKS:
            source, address = lab.node(source_name).netns, lab.node(peer_name).gateway_ipv4
            args_path = module_args_file({"targets": [address], "count": count, "interval": interval, "keep_rtts": True})
            row = {"link": "%s-%s" % (source_name, peer_name), "delay_ms": milliseconds, "goal": GOALS[milliseconds]}
            try:
                for tool in TOOLS[1:]:
                    ours, theirs, errors = [], [], []
                    for _repeat in range(repeats):
                        argv, rtts_of = tool_run(tool, source, address, count, interval, args_path)
                        run = Timed(argv)
                        ping = Timed(ping_command(source, address, count, interval))
                        tool_median = median(rtts_of(run.finish()))
                        ping_median = median(ping_rtts(ping.finish().stdout))
                        ours.append(tool_median)
                        theirs.append(ping_median)
                        errors.append(tool_median - ping_median)
                    row[tool + "_ms"] = median(ours)
                    row[tool + "_ping_ms"] = median(theirs)
                    row[tool + "_error_ms"] = median(errors)
                    row[tool + "_error_percent"] = 100.0 * median(errors) / median(theirs)
            finally:
                os.unlink(args_path)
            rows.append(row)
    finally:
        lab.down()
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--json")
    options = parser.parse_args(argv)
    rows = measure(options.repeats, options.count)
    header = ("link", "delay", "ping ms", "nlm_probe err", "fping err", "multiping err", "2nd ping err",
              "goal (nlm_probe)")
    print("%-6s %6s %10s %18s %18s %18s %18s  %s" % header)
    for row in rows:
        print("%-6s %6g %10.4f %s %s %s %s  %s" % (
            row["link"], row["delay_ms"], row["nlm_probe_ping_ms"],
            *("%8.4f ms %5.1f%%" % (row[tool + "_error_ms"], row[tool + "_error_percent"]) for tool in TOOLS[1:]),
            row["goal"]))
    if options.json:
        Path(options.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
