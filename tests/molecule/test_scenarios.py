"""The Molecule layer: every scenario under extensions/molecule, each its own test.

Each runs `molecule test -s <scenario>` (its test sequence, on a lab of its own), so
pytest reports which scenario failed and shows the end of its output. The scenarios
spend much of their time waiting on machines that boot and on SSH round trips, so
NLM_MOLECULE_PARALLEL of them (default 2) run side by side, the longest first.
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
PARALLEL = int(os.environ.get("NLM_MOLECULE_PARALLEL", "2"))


def run_scenario(scenario):
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1"}
    return subprocess.run([str(VENV_BIN / "molecule"), "test", "--scenario-name", scenario], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900, check=False)


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
    assert result.returncode == 0, failure_report(scenario, result)
    # Molecule passes a step whose playbook is not configured; here that is a step not taken
    assert "Missing playbook" not in result.stdout + result.stderr, result.stdout[-15000:]
