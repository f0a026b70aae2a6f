"""nlm_probe's RTT beside iputils ping, fping and icmplib multiping on lab links with 0, 5 and 50 ms of delay.

A 3-node lab of its own (no firewall, delay n1-n2 and n1-n3, none on n2-n3).
Each repeat runs the four tools one after the other over the same link; the
figure per tool is the median over repeats of its median RTT, and its error is
that minus iputils ping's.

    python benchmarks/probe_accuracy.py [--repeats 5] [--count 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from probe_common import (REPO, Timed, fping_command, fping_rtts, median, multiping_rtts,  # noqa: E402
                          ping_rtts, run_module)

sys.path.insert(0, str(REPO / "lab"))

import nlmlab  # noqa: E402

LINKS = (("n2", "n3", 0.0), ("n1", "n2", 5.0), ("n1", "n3", 50.0))
TOOLS = ("ping", "nlm_probe", "fping", "multiping")
GOALS = {0.0: "within 0.020 ms", 5.0: "within 1 %", 50.0: "within 1 %"}


def measure(repeats=5, count=20, interval=0.05, state_dir=None):
    """Per link: median RTT (ms) of every tool and each one's error against iputils ping."""
    delay = ",".join("%s-%s=%gms" % (source, peer, milliseconds) for source, peer, milliseconds in LINKS if milliseconds)
    lab = nlmlab.Lab(name="pa" + secrets.token_hex(3), nodes=3, firewall="none", mode="encap", delay=delay,
                     state_dir=state_dir or REPO / ".cache" / "bench-probe-accuracy")
    rows = []
    try:
        lab.up()
        for source_name, peer_name, milliseconds in LINKS:
            source, address = lab.node(source_name), lab.node(peer_name).gateway_ipv4
            medians = dict((tool, []) for tool in TOOLS)
            for _repeat in range(repeats):
                medians["ping"].append(median(ping_rtts(source.netns, address, count, interval)))
                _timed, facts = run_module(source.netns, {"targets": [address], "count": count, "interval": interval})
                medians["nlm_probe"].append(median(facts["peers"][0]["targets"][0]["rtts_ms"]))
                fping = Timed(fping_command(source.netns, [address], count, interval, 1.0))
                medians["fping"].append(median(fping_rtts(fping.stderr).get(address, [])))
                medians["multiping"].append(median(multiping_rtts(source.netns, address, count, interval)))
            row = {"link": "%s-%s" % (source_name, peer_name), "delay_ms": milliseconds, "goal": GOALS[milliseconds]}
            reference = median(medians["ping"])
            for tool in TOOLS:
                value = median(medians[tool])
                row[tool + "_ms"] = value
                row[tool + "_error_ms"] = value - reference
                row[tool + "_error_percent"] = 100.0 * (value - reference) / reference
            rows.append(row)
    finally:
        lab.down()
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--json")
    options = parser.parse_args(argv)
    rows = measure(options.repeats, options.count)
    print("%-6s %6s %10s %18s %18s %18s  %s" % ("link", "delay", "ping ms", "nlm_probe err", "fping err",
                                               "multiping err", "goal (nlm_probe)"))
    for row in rows:
        print("%-6s %6g %10.4f %s %s %s  %s" % (
            row["link"], row["delay_ms"], row["ping_ms"],
            *("%8.4f ms %5.1f%%" % (row[tool + "_error_ms"], row[tool + "_error_percent"])
              for tool in ("nlm_probe", "fping", "multiping")),
            row["goal"]))
    if options.json:
        Path(options.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
