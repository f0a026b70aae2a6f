"""The Molecule layer: every scenario under extensions/molecule, each its own test.

Each runs `molecule test -s <scenario>` (its test sequence, on a lab of its own), so
pytest reports which scenario failed and shows the end of its output. The scenarios
spend much of their time waiting on machines that boot and on SSH round trips, so
NLM_MOLECULE_PARALLEL of them (default 3, all of them) run side by side, the longest first.
`machines` runs on the newest ansible-core supported today (the compat layer's virtual
environment of it, which scripts/compat-venv.sh makes if absent), the others on .venv's.
"""

import concurrent.futures
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
# `default` is `machines` under the name `molecule test` runs without -s: run once
SCENARIOS = sorted(path.parent.name for path in (REPO / "extensions" / "molecule").glob("*/molecule.yml")
                   if not path.is_symlink())
# booted machines and reboots take longest: started first, they do not hold up the end
LONGEST_FIRST = sorted(SCENARIOS, key=lambda name: (not name.startswith("machines"), name))
PARALLEL = int(os.environ.get("NLM_MOLECULE_PARALLEL", "3"))
NEWEST = ("2.21", "3.13")
ON_NEWEST = {"machines"}


def venv_bin(scenario):
    if scenario not in ON_NEWEST:
        return VENV_BIN
    made = subprocess.run([str(REPO / "scripts" / "compat-venv.sh"), *NEWEST], capture_output=True, text=True,
                          timeout=900, check=False)
    assert made.returncode == 0, made.stderr
    return pathlib.Path(made.stdout.strip()) / "bin"


def run_scenario(scenario):
    bin_dir = venv_bin(scenario)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1"}
    version = subprocess.run([str(bin_dir / "ansible"), "--version"], env=env, capture_output=True, text=True,
                             check=False).stdout.split("\n", 1)[0]
    result = subprocess.run([str(bin_dir / "molecule"), "test", "--scenario-name", scenario], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=900, check=False)
    result.ansible_version = version
    return result


@pytest.fixture(scope="module")
def runs():
    """{scenario: future of its finished molecule run}, all started at once (PARALLEL at a time)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, PARALLEL)) as pool:
        yield {scenario: pool.submit(run_scenario, scenario) for scenario in LONGEST_FIRST}


def failure_report(scenario, result):
    """The end of the run, and first what its verifier said failed: the verifier's report
    comes before the clean-up and destroy steps, so the end alone may not reach it."""
    verifier = ""
    start = result.stdout.rfind("= FAILURES =")
    if start >= 0:
        verifier = "verifier's failures:\n" + result.stdout[start:start + 8000] + "\n...\n"
    return f"molecule test -s {scenario} failed:\n{verifier}{result.stdout[-10000:]}\n{result.stderr[-5000:]}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario, runs):
    result = runs[scenario].result()
    assert ("[core %s." % NEWEST[0] in result.ansible_version) == (scenario in ON_NEWEST), result.ansible_version
    assert result.returncode == 0, failure_report(scenario, result)
    # Molecule passes a step whose playbook is not configured; here that is a step not taken
    assert "Missing playbook" not in result.stdout + result.stderr, result.stdout[-15000:]
