"""The probe engineer's benchmarks (probe_accuracy.py, probe_scale.py) as rows of the one table.

They build and remove their own namespaces; this module only picks their sizes and
turns their results into rows with goals (issue 6).
"""

from __future__ import annotations

from benchmarks import harness, probe_accuracy, probe_scale

# 100 requests 50 ms apart per run: with 40, two iputils pings side by side on the 5 ms
# link differed by up to 1.5 % (the lab's user-space delay has its own jitter).
ACCURACY_COUNT = 100
SMOKE_ACCURACY_COUNT = 5
# The goals of issue 6: within 20 microseconds of iputils ping on an undelayed link, 1 % on delayed ones.
ABSOLUTE_BOUND_MS = 0.020
RELATIVE_BOUND = 0.01
SCALE_SIZES = (10, 100, 1000)
SMOKE_SCALE_SIZES = (10,)
# "ping" is a second iputils ping beside the reference one: the method's own noise.
OTHER_TOOLS = ("fping", "multiping", "ping")


def accuracy_rows(repeats: int, smoke: bool) -> list[harness.Row]:
    result = []
    for link in probe_accuracy.measure(repeats=repeats, count=SMOKE_ACCURACY_COUNT if smoke else ACCURACY_COUNT):
        error = link["nlm_probe_error_ms"]
        if link["delay_ms"]:
            met = abs(error) <= RELATIVE_BOUND * link["nlm_probe_ping_ms"]
        else:
            met = abs(error) <= ABSOLUTE_BOUND_MS
        name = "accuracy, %g ms link" % link["delay_ms"]
        result.append(harness.Row(
            benchmark=name + ": median RTT", ours=link["nlm_probe_ms"], peer=link["nlm_probe_ping_ms"], unit="ms",
            peer_name="iputils ping", goal=link["goal"], met=met, details=link))
        # How far the other tools are from ping on the same link, beside our own error.
        for tool in OTHER_TOOLS:
            result.append(harness.Row(
                benchmark=name + ": |error| vs ping", ours=abs(error), peer=abs(link[tool + "_error_ms"]), unit="ms",
                peer_name="a second iputils ping" if tool == "ping" else tool, goal="(information)", met=None,
                details={"ours_error_ms": error, "peer_error_ms": link[tool + "_error_ms"],
                         "peer_error_percent": link[tool + "_error_percent"]}))
    return result


def scale_rows(repeats: int, smoke: bool) -> list[harness.Row]:
    """The goals compare the probing with fping's: the probe's own duration_seconds and the
    engine's CPU time. The module process as a whole adds Python's and Ansible's start-up
    and exit, which every module pays whatever it does; those rows, and the start-up alone
    (the module run with no targets), are printed beside them for information."""
    result = []
    sizes = probe_scale.measure(sizes=SMOKE_SCALE_SIZES if smoke else SCALE_SIZES, repeats=repeats)
    for size in sizes:
        name = "scale, %s targets" % format(size["targets"], ",")
        result += [
            harness.Row(benchmark=name + ": wall, probing", ours=size["probe_seconds"], peer=size["fping_wall"],
                        unit="s", peer_name="fping", goal="ratio <= %g" % probe_scale.WALL_GOAL,
                        met=size["probe_wall_ratio"] <= probe_scale.WALL_GOAL, details=size),
            harness.Row(benchmark=name + ": CPU, probe engine", ours=size["engine_cpu"], peer=size["fping_cpu"],
                        unit="s", peer_name="fping", goal="ratio <= %g" % probe_scale.CPU_GOAL,
                        met=size["engine_cpu_ratio"] <= probe_scale.CPU_GOAL, details=size),
            harness.Row(benchmark=name + ": wall, whole module process", ours=size["module_wall"],
                        peer=size["fping_wall"], unit="s", peer_name="fping", goal="(information)", met=None,
                        details=size),
            harness.Row(benchmark=name + ": CPU, whole module process", ours=size["module_cpu"],
                        peer=size["fping_cpu"], unit="s", peer_name="fping", goal="(information)", met=None,
                        details=size),
        ]
    # The empty run is measured beside every size; the largest size's fping is the one to weigh it against.
    largest = sizes[-1]
    fping_name = "fping (%s targets)" % format(largest["targets"], ",")
    result += [
        harness.Row(benchmark="scale: module start-up and exit (no targets), wall", ours=largest["empty_module_wall"],
                    peer=largest["fping_wall"], unit="s", peer_name=fping_name, goal="(information)", met=None,
                    details=largest),
        harness.Row(benchmark="scale: module start-up and exit (no targets), CPU", ours=largest["empty_module_cpu"],
                    peer=largest["fping_cpu"], unit="s", peer_name=fping_name, goal="(information)", met=None,
                    details=largest),
    ]
    return result
