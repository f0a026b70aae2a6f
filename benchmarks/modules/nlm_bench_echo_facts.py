# -*- coding: utf-8 -*-
# Copyright: contributors to nodelatency.monitor
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark fixture: a module that returns facts read from a file and does nothing else.

The mesh benchmark runs it beside nlm_probe with an earlier nlm_probe result, so that
what Ansible spends carrying a result of that size (JSON, the result queue, the
callbacks, the fact cache) is measured apart from what nlm_probe itself spends
(peer resolution, its imports, the probing). It lives with the benchmarks, not in
the collection: `ansible -M benchmarks/modules` finds it.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: nlm_bench_echo_facts
short_description: Return facts read from a JSON file (benchmark fixture)
description:
  - Reads a JSON object from O(path) and returns it as C(ansible_facts), unchanged.
options:
  path:
    description: JSON file holding the facts to return, on the managed node.
    type: path
    required: true
author: nodelatency.monitor contributors (@nodelatency)
"""

import json

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(path=dict(type="path", required=True)), supports_check_mode=True)
    try:
        with open(module.params["path"], encoding="utf-8") as stream:
            facts = json.load(stream)
    except (OSError, ValueError) as err:
        module.fail_json(msg="nlm_bench_echo_facts: cannot read facts from %s: %s" % (module.params["path"], err))
    if not isinstance(facts, dict):
        module.fail_json(msg="nlm_bench_echo_facts: %s must hold a JSON object" % module.params["path"])
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == "__main__":
    main()
