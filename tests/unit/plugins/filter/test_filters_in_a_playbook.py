# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters as a playbook uses them: on hostvars, which is no plain dict."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.nodelatency.monitor.plugins.filter.nlm_latency_heatmap_html import nlm_latency_heatmap_html
from ansible_collections.nodelatency.monitor.plugins.filter.nlm_latency_table import nlm_latency_table
from ansible_collections.nodelatency.monitor.plugins.filter.nlm_node_latency_stats import nlm_node_latency_stats

ROOT = pathlib.Path(__file__).resolve().parents[4]
HOSTS = ["n1", "n2", "n3", "n4"]

# One module run for the whole play: set_fact and the templating stay on the
# controller, so the test stays quick.
PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Each node's own textfile from its own fact
      ansible.builtin.set_fact:
        nlm_textfile: "{{ nlm_latency | nodelatency.monitor.nlm_prometheus_textfile(node=inventory_hostname) }}"
      when: nlm_latency is defined

    - name: Every report from hostvars
      ansible.builtin.copy:
        content: "{{ reports | ansible.builtin.to_json }}"
        dest: "{{ out }}"
        mode: "0644"
      vars:
        matrix: "{{ hostvars | nodelatency.monitor.nlm_latency_matrix(hosts=ansible_play_hosts_all) }}"
        reports:
          table: "{{ hostvars | nodelatency.monitor.nlm_latency_table(hosts=ansible_play_hosts_all) }}"
          stats: "{{ hostvars | nodelatency.monitor.nlm_node_latency_stats(hosts=ansible_play_hosts_all) }}"
          page: "{{ matrix | nodelatency.monitor.nlm_latency_heatmap_html }}"
          summary: "{{ hostvars | nodelatency.monitor.nlm_latency_summary }}"
          textfiles: "{{ ansible_play_hosts_all | map('extract', hostvars) | selectattr('nlm_textfile', 'defined')
                         | map(attribute='nlm_textfile') }}"
      run_once: true
"""


def test_every_filter_reads_hostvars_in_a_play(tmp_path, dual_stack_facts):
    hosts = {host: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable} for host in HOSTS}
    for fact in dual_stack_facts:
        hosts[fact["source"]]["nlm_latency"] = fact
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": hosts, "vars": {"out": str(tmp_path / "reports.json")}}}))
    playbook = tmp_path / "reports.yml"
    playbook.write_text(PLAYBOOK)

    run = subprocess.run(
        [str(pathlib.Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), str(playbook)],
        cwd=ROOT, env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")),
        capture_output=True, text=True, check=False)

    assert run.returncode == 0, run.stdout + run.stderr
    reports = json.loads((tmp_path / "reports.json").read_text())
    assert reports["table"] == nlm_latency_table(dual_stack_facts, hosts=HOSTS)
    assert reports["stats"] == nlm_node_latency_stats(dual_stack_facts)
    assert reports["page"] == nlm_latency_heatmap_html(dual_stack_facts, hosts=HOSTS)
    # Without hosts, every host with facts reports; n4 is there as their peer.
    assert [row["notes"] for row in reports["summary"]] == ["2 lossy", "1 failed", "2 no reply", "no data"]
    sources = [{sample.labels["source_node"] for family in text_string_to_metric_families(textfile)
                for sample in family.samples} for textfile in reports["textfiles"]]
    assert sources == [{"n1"}, {"n2"}, {"n3"}]
