"""What the benchmarks share: result rows, labs that always come down, timed Ansible runs."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
import sys

from benchmarks.probe_common import REPO, Timed

sys.path.insert(0, str(REPO / "lab"))

import nlmlab  # noqa: E402

VENV_BIN = REPO / ".venv" / "bin"
LAB_STATE_ROOT = REPO / ".cache" / "bench" / "labs"
RECAP_LINE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)
# Ansible is slow to start on a busy machine, and a 100-node run is slower still.
ANSIBLE_TIMEOUT = 900


@dataclasses.dataclass
class Row:
    """One line of the table: our figure beside the peer's, and whether the goal is met.

    ``met`` is None for rows that only inform (no goal of their own).
    """

    benchmark: str
    ours: float
    peer: float
    unit: str
    peer_name: str
    goal: str
    met: bool | None
    details: dict = dataclasses.field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return self.ours / self.peer if self.peer else None

    def as_dict(self) -> dict:
        return dict(dataclasses.asdict(self), ratio=self.ratio)


def progress(message: str) -> None:
    """A line on stderr, so that a run of half an hour shows where it is."""
    print("benchmarks:   %s" % message, file=sys.stderr, flush=True)


def use_checkout_ansible() -> None:
    """Make every ansible command started from here use this checkout, as `make` does.

    The benchmarks start ansible through probe_common.Timed, which inherits the
    environment; setting it once here covers `python -m benchmarks` run outside make.
    """
    os.environ["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    os.environ["ANSIBLE_NOCOLOR"] = "1"
    # Ansible's default result format rather than the checkout's yaml: the mesh benchmark
    # reads every host's result from the output of `ansible all -m ...`.
    os.environ["ANSIBLE_CALLBACK_RESULT_FORMAT"] = "json"
    os.environ["PATH"] = "%s%s%s" % (VENV_BIN, os.pathsep, os.environ.get("PATH", ""))


def ansible_argv(program: str, inventory, *args: str) -> list[str]:
    return [str(VENV_BIN / program), "-i", str(inventory), *args]


def run_timed(argv: list[str], exit_codes=(0,)) -> Timed:
    """Run argv to the end; another exit code raises with the end of its output, since such a run's time means nothing."""
    run = Timed(argv).finish(timeout=ANSIBLE_TIMEOUT)
    if run.returncode not in exit_codes:
        raise RuntimeError("%s failed with exit code %d:\n%s%s\n%s"
                           % (" ".join(argv), run.returncode, failed_hosts(run.stdout), run.stdout[-3000:],
                              run.stderr[-3000:]))
    return run


# the start of a host's result that did not succeed, in either of Ansible's output forms
FAILED_RESULT = re.compile(r"^(?:fatal: \[[^\]]+\]|\S+ \| (?:FAILED|UNREACHABLE)!).*$", re.MULTILINE)


def failed_hosts(stdout: str, limit: int = 5, length: int = 1500) -> str:
    """The first ``limit`` failed or unreachable hosts' results: with hundreds of hosts the end of
    the output holds the ones that succeeded."""
    starts = [match.start() for match in FAILED_RESULT.finditer(stdout)]
    return "".join("%s\n...\n" % stdout[start:start + length] for start in starts[:limit])


def recap(stdout: str) -> dict[str, dict[str, int]]:
    """{host: {"ok", "changed", "unreachable", "failed"}} from a playbook's PLAY RECAP."""
    return {match.group(1): dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups()[1:])))
            for match in RECAP_LINE.finditer(stdout)}


@contextlib.contextmanager
def lab(prefix: str, **kwargs):
    """A lab with a name no other run uses (prefix + random hex), taken down however the block ends."""
    name = prefix + secrets.token_hex(3)
    instance = nlmlab.Lab(name=name, state_dir=LAB_STATE_ROOT / name, **kwargs)
    try:
        yield instance.up()
    finally:
        instance.down()
