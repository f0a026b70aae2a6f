"""python -m benchmarks [--smoke] [--only NAME] [--repeats N] [--output DIR]

Runs every benchmark (or the named ones) on labs of its own, prints one table
(benchmark, our figure, the peer's figure, ratio, goal, met) and writes the same to
DIR/results.json and a timestamped copy. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from benchmarks import agent, firewalld, harness, machines, mesh, probe, rules, verdicts

BENCHMARKS = {
    "rules": rules.rows,
    "accuracy": probe.accuracy_rows,
    "scale": probe.scale_rows,
    "mesh": mesh.rows,
    "machines": machines.rows,
    "agent": agent.rows,
    "firewalld": firewalld.rows,
    "verdicts": verdicts.rows,
}
DEFAULT_REPEATS = 5
SMOKE_REPEATS = 1
DEFAULT_OUTPUT = harness.REPO / ".cache" / "bench"
COLUMNS = ("benchmark", "ours", "peer", "peer figure", "ratio", "goal", "met")


def _interrupted(signum, frame):
    """Turn SIGINT/SIGTERM into KeyboardInterrupt once, so that every lab's finally block takes it down.

    Further signals are ignored: a second Ctrl-C would cut that teardown short.
    """
    del frame
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt("signal %d" % signum)


def stop_children() -> None:
    """SIGTERM to the children still running, such as an ansible command that an interrupt cut short."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        try:
            parent = int(Path("/proc", entry, "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # not a process, or gone meanwhile
        if parent == me:
            os.kill(int(entry), signal.SIGTERM)


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return "%.4g %s" % (value, unit) if unit != "x" else "%.3gx" % value


def table(rows: list[dict]) -> str:
    cells = [COLUMNS] + [(
        row["benchmark"], _figure(row["ours"], row["unit"]), row["peer_name"], _figure(row["peer"], row["unit"]),
        _figure(row["ratio"], "x"), row["goal"], {True: "yes", False: "NO", None: "-"}[row["met"]],
    ) for row in rows]
    widths = [max(len(line[column]) for line in cells) for column in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _save(results: dict, output: Path, started: datetime.datetime) -> None:
    """results.json and its dated copy, each replaced whole (a reader never sees half a file)."""
    output.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2) + "\n"
    for name in ("results.json", "results-%s.json" % started.strftime("%Y%m%dT%H%M%SZ")):
        partial = output / (name + ".partial")
        partial.write_text(text)
        os.replace(partial, output / name)


def parse_arguments(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and one repeat: checks that everything runs")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
                        help="run only this benchmark (%s); may be given more than once" % ", ".join(BENCHMARKS))
    parser.add_argument("--repeats", type=int, help="repeats per measurement (default %d, %d with --smoke)"
                        % (DEFAULT_REPEATS, SMOKE_REPEATS))
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="directory for results.json (default %(default)s)")
    options = parser.parse_args(argv)
    if options.repeats is None:
        options.repeats = SMOKE_REPEATS if options.smoke else DEFAULT_REPEATS
    if options.repeats < 1:
        parser.error("--repeats must be at least 1")
    return options


def main(argv=None) -> int:
    options = parse_arguments(argv)
    if os.geteuid() != 0:
        print("benchmarks: must run as root (the labs are network namespaces)", file=sys.stderr)
        return 1
    harness.use_checkout_ansible()
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)
    started = datetime.datetime.now(datetime.timezone.utc)
    results = {"command": ["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)],
               "started": started.isoformat(), "smoke": options.smoke, "repeats": options.repeats,
               "cpus": os.cpu_count(), "load_average_at_start": os.getloadavg(), "rows": [], "errors": {}, "suite_seconds": {},
               # null until the run ends: a file where it is null holds a run cut short
               "finished": None}
    interrupted = False
    for name in options.only or BENCHMARKS:
        print("benchmarks: %s ..." % name, file=sys.stderr, flush=True)
        suite_started = time.monotonic()
        try:
            # one row at a time: a suite that yields its rows as it goes keeps them when interrupted
            for row in BENCHMARKS[name](options.repeats, options.smoke):
                results["rows"].append(dict(row.as_dict(), suite=name))
                # on disk at once: a run that is killed outright keeps the rows it measured
                _save(results, options.output, started)
        except KeyboardInterrupt:
            # The labs are down by now (their finally blocks ran); what was measured is kept.
            stop_children()
            results["errors"][name] = "interrupted"
            interrupted = True
            break
        except Exception as error:  # the other benchmarks still run; the exit code tells
            traceback.print_exc()
            results["errors"][name] = "%s: %s" % (type(error).__name__, error)
        finally:
            results["suite_seconds"][name] = round(time.monotonic() - suite_started, 1)
    results["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
    results["load_average_at_end"] = os.getloadavg()
    _save(results, options.output, started)
    print(table(results["rows"]))
    for name, error in results["errors"].items():
        print("benchmarks: %s failed: %s" % (name, error), file=sys.stderr)
    print("benchmarks: results in %s" % (options.output / "results.json"), file=sys.stderr)
    if interrupted:
        return 130
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
