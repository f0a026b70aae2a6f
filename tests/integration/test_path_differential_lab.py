"""The path model against the kernel, on random rulesets.

lab/nlmrulegen.py draws rulesets in random flavours, tables, chains and priorities
(jumps, gotos, returns, verdict maps, named sets, marks, conntrack state, addresses,
wildcards, negations, policies, drops and rejects). Each case is loaded into a node
of one lab whose n1 is clean; real pings between the node and n1 over antrea-gw0,
IPv4 and IPv6, both ways, must be what nlm_icmp_allow_info's verdicts foretell, before
and after nlm_icmp_allow present; present must open them all, and absent must leave
every flavour's ruleset as it was loaded. Cases run in rounds, one per node at a time,
the logic of both modules in one process per case (lab/nlmrules.py).

NLM_DIFF_SEED repeats a run; NLM_DIFF_CASES sets how many cases it draws. A failure
names the seed, the case and its ruleset.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

import nlmrulegen
import nlmrules

pytestmark = pytest.mark.lab

# four rounds of a new random draw each run: every run of make test adds cases that no
# earlier one tried, and NLM_DIFF_CASES=2000 is there for a long look
CASES = int(os.environ.get("NLM_DIFF_CASES", "80"))
NODES_AT_ONCE = 20
SEED = int(os.environ.get("NLM_DIFF_SEED") or random.SystemRandom().randrange(1 << 32))


def run_case(lab, node, peer, ruleset):
    node, peer = lab.node(node), lab.node(peer)
    case = {"ruleset": ruleset, "peer_netns": peer.netns,
            "own": {"ipv4": node.gateway_ipv4, "ipv6": node.gateway_ipv6},
            "other": {"ipv4": peer.gateway_ipv4, "ipv6": peer.gateway_ipv6}}
    completed = lab.run(node, [sys.executable, str(nlmrules.REPO / "lab" / "nlmrules.py"), "case"],
                        input=json.dumps(case), check=False, timeout=300)
    if completed.returncode != 0:
        return {"error": completed.stderr[-3000:]}
    return json.loads(completed.stdout)


def problems(seen):
    """What is wrong with one case's outcome."""
    if "error" in seen:
        return ["the case did not run: %s" % seen["error"]]
    found = ["%s failed: %s %s" % (step, seen[step].get("msg"), seen[step].get("stderr", ""))
             for step in ("info before", "present", "info present", "absent") if seen[step].get("failed")]
    if found:
        return found
    for step in ("before", "present"):
        found += ["%s: %s" % (step, wrong) for wrong in nlmrules.disagreements(seen["info %s" % step],
                                                                               seen["pings %s" % step])]
    if not all(seen["pings present"].values()):
        found.append("present left pings blocked: %s" % seen["pings present"])
    if seen["snapshot absent"] != seen["snapshot before"]:
        found.append("absent did not restore the ruleset")
    return found


@pytest.fixture(scope="module")
def lab(module_lab_factory):
    return module_lab_factory(nodes=NODES_AT_ONCE + 1, firewall="none", mode="encap")


def test_random_rulesets_agree_with_ping(lab):
    rng = random.Random(SEED)
    nodes = ["n%d" % index for index in range(2, NODES_AT_ONCE + 2)]
    cases = [nlmrulegen.generate(rng, nlmrulegen.local_networks(lab.node(nodes[number % len(nodes)])))
             for number in range(CASES)]
    failures = []
    decided = 0
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        for start in range(0, CASES, len(nodes)):
            batch = list(enumerate(cases[start:start + len(nodes)], start))
            outcomes = list(pool.map(lambda item: run_case(lab, nodes[item[0] % len(nodes)], "n1", item[1]), batch))
            for (number, ruleset), seen in zip(batch, outcomes):
                found = problems(seen)
                if found:
                    failures.append("case %d (seed %d): %s\nruleset: %s" % (
                        number, SEED, "; ".join(found), json.dumps(ruleset, indent=1)))
                elif not all(seen["pings before"].values()):
                    decided += 1
    assert not failures, "NLM_DIFF_SEED=%d: %d of %d cases disagree with the kernel\n%s" % (
        SEED, len(failures), CASES, "\n\n".join(failures[:5]))
    # a generator that never blocks echo would prove nothing
    assert decided >= CASES // 4, "only %d of %d cases blocked echo before present (seed %d)" % (decided, CASES, SEED)


def test_the_generator_is_repeatable_and_loads(lab):
    local = nlmrulegen.local_networks(lab.node("n2"))
    first = [nlmrulegen.generate(random.Random(7), local) for _draw in range(3)]
    assert first == [nlmrulegen.generate(random.Random(7), local) for _draw in range(3)]
    for seed in range(40):
        ruleset = nlmrulegen.generate(random.Random(seed), local)
        try:
            lab.run("n2", [sys.executable, "-c", "import sys; sys.path.insert(0, %r); import nlmrules; "
                                                 "nlmrules.reset_here()" % str(nlmrules.REPO / "lab")])
            nlmrules.load(lab, "n2", ruleset)
        except subprocess.CalledProcessError as error:
            pytest.fail("seed %d drew a ruleset the kernel refuses: %s\n%s" % (seed, error, ruleset))
