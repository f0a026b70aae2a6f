# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML heatmap report in a real browser: Debian's Chromium, headless.

Each page is written under tests/output/reports/, loaded by Chromium, and the DOM
Chromium built is checked cell by cell; a screenshot is kept next to the page
for people to look at. Synthetic facts give 3 and 100 nodes with every pair
status; a lab of three namespaces gives a page from real ICMP, made by the
filters inside a playbook.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import struct
import subprocess

import pytest

from ansible_collections.nodelatency.monitor.plugins.filter.nlm_latency_heatmap_html import nlm_latency_heatmap_html
from ansible_collections.nodelatency.monitor.plugins.filter.nlm_latency_matrix import nlm_latency_matrix
from ansible_collections.nodelatency.monitor.tests.unit.fixtures.reports.html_dom import parse
from ansible_collections.nodelatency.monitor.tests.unit.fixtures.reports.synthetic import synthetic_facts

LAB_PLAYBOOK = """
- hosts: nlm_nodes
  gather_facts: false
  tasks:
    - name: Measure
      nodelatency.monitor.nlm_probe:
        count: 3
        interval: 0.05
        timeout: 0.5

    - name: Report, on the controller
      ansible.builtin.copy:
        content: "{{ hostvars | nodelatency.monitor.nlm_latency_heatmap_html(hosts=ansible_play_hosts_all) }}"
        dest: "{{ page }}"
        mode: "0644"
      delegate_to: localhost
      run_once: true

    - name: Keep the facts for the test
      ansible.builtin.copy:
        content: "{{ ansible_play_hosts_all | map('extract', hostvars, ['ansible_facts', 'nlm_latency']) | ansible.builtin.to_json }}"
        dest: "{{ facts }}"
        mode: "0644"
      delegate_to: localhost
      run_once: true
"""
OUTPUT = pathlib.Path(__file__).resolve().parents[1] / "output" / "reports"
# An inventory name that would become markup if the page did not escape it.
AWKWARD = '<b>n3</b>&"co"'
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """A function that runs headless Chromium with a fresh profile on a page and returns its stdout."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is missing: make setup installs it (bindep.txt)")

    def run(page, *arguments):
        profile = tmp_path_factory.mktemp("chromium-profile")
        command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   "--hide-scrollbars", "--force-device-scale-factor=1", "--user-data-dir=%s" % profile,
                   *arguments, page.as_uri()]
        # The timeout only keeps a hung browser from hanging the suite.
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def load(chromium, name, facts, window):
    """Write the page, take its screenshot, and return the DOM Chromium built from it."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page = OUTPUT / ("%s.html" % name)
    page.write_text(nlm_latency_heatmap_html(facts, title="Node latency, %s" % name))
    return load_page(chromium, page, window)


def load_page(chromium, page, window):
    """Take the page's screenshot next to it, and return the DOM Chromium built from it."""
    screenshot = page.with_suffix(".png")
    screenshot.unlink(missing_ok=True)
    chromium(page, "--screenshot=%s" % screenshot, "--window-size=%d,%d" % window)
    assert png_size(screenshot) == window
    return parse(chromium(page, "--dump-dom"))


def assert_cells_match(document, matrix):
    """Every heatmap cell Chromium holds is the pair the matrix has, in status and average RTT."""
    nodes = matrix["nodes"]
    for family in matrix["families"]:
        (svg,) = document.find_all("svg", class_="heatmap", data_family=family)
        cells = svg.find_all("g", class_="cell")
        assert [(cell.attrs["data-source"], cell.attrs["data-target"]) for cell in cells] == [
            (source, target) for source in nodes for target in nodes]
        for cell in cells:
            source, target = cell.attrs["data-source"], cell.attrs["data-target"]
            if source == target:
                assert cell.attrs["data-status"] == "self"
                continue
            pair = matrix["matrix"][family][source][target]
            assert cell.attrs["data-status"] == pair["status"]
            assert cell.attrs["data-verdict"] == pair["verdict"]
            assert cell.attrs.get("data-avg-rtt-ms") == (
                None if pair["avg_rtt_ms"] is None else str(pair["avg_rtt_ms"]))
            assert cell.find_all("title")[0].text().startswith("%s \u2192 %s, %s" % (source, target, family))
        row_labels = [label.own_text() for label in svg.find_all("text", class_="row-label")]
        assert row_labels == nodes


def test_three_nodes_dual_stack(chromium):
    facts = synthetic_facts(["n1", "n2", AWKWARD], families=("ipv4", "ipv6"))
    matrix = nlm_latency_matrix(facts)

    document = load(chromium, "heatmap-3-nodes", facts, (1280, 1000))

    assert_cells_match(document, matrix)
    # Chromium saw the awkward name as text, never as markup.
    assert not document.find_all("b")
    assert len(document.find_all("tr", data_node=AWKWARD)) == 1
    # Large cells carry their values; the lossy and the silent pair are marked.
    cells = {(cell.attrs["data-source"], cell.attrs["data-target"]): cell
             for cell in document.find_all("svg", data_family="ipv4")[0].find_all("g", class_="cell")}
    assert [text.own_text() for text in cells[("n1", "n2")].find_all("text")] == ["20.26"]
    assert cells[("n1", AWKWARD)].find_all("rect")[1].attrs["stroke"] == "#d7191c"
    assert cells[(AWKWARD, "n2")].find_all("path")
    assert len(document.find_all("table", id="pair-details")[0].find_all("tr")) == 1 + 12


def test_a_hundred_nodes(chromium):
    names = ["node-%03d" % number for number in range(1, 101)]
    facts = synthetic_facts(names, silent=("node-100",))
    matrix = nlm_latency_matrix(facts, hosts=names)

    document = load(chromium, "heatmap-100-nodes", facts, (1280, 1400))

    assert_cells_match(document, matrix)
    (svg,) = document.find_all("svg", class_="heatmap")
    # The whole matrix fits the window's width.
    assert int(svg.attrs["width"]) <= 1280
    statuses = [cell.attrs["data-status"] for cell in svg.find_all("g", class_="cell")]
    assert (statuses.count("lossy"), statuses.count("down"), statuses.count("missing")) == (1, 1, 99)
    # At 8 px a cell, red labels point at the rows and columns with those pairs.
    assert [label.own_text() for label in svg.find_all("text", class_="problem")] == [
        "node-001", "node-003", "node-100", "node-002", "node-003"]
    assert len(document.find_all("table", id="pair-details")[0].find_all("tr")) == 1 + 200


@pytest.mark.lab
def test_three_lab_nodes_with_real_icmp(chromium, module_lab_factory, run_ansible, tmp_path):
    """n1 and n2 allow ICMP echo, 20 ms apart; n3 keeps its default-deny firewall."""
    lab = module_lab_factory(nodes=3, firewall="iptables-nft", mode="encap", delay="n1-n2=20ms")
    allowed = run_ansible(["n1:n2", "-m", "nodelatency.monitor.nlm_icmp_allow",
                           "-a", json.dumps({"interfaces": ["antrea-gw0"]})], lab.inventory_path)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page, facts_path = OUTPUT / "heatmap-lab-3-nodes.html", tmp_path / "facts.json"
    playbook = tmp_path / "report.yml"
    playbook.write_text(LAB_PLAYBOOK)

    run = run_ansible([str(playbook), "-e", json.dumps({"page": str(page), "facts": str(facts_path)})],
                      lab.inventory_path, program="ansible-playbook")

    assert run.returncode == 0, run.stdout + run.stderr
    matrix = nlm_latency_matrix(json.loads(facts_path.read_text()))
    document = load_page(chromium, page, (1280, 1000))
    assert_cells_match(document, matrix)
    for family in ("ipv4", "ipv6"):
        cells = {(cell.attrs["data-source"], cell.attrs["data-target"]): cell
                 for cell in document.find_all("svg", data_family=family)[0].find_all("g", class_="cell")}
        for pair in (("n1", "n2"), ("n2", "n1")):
            assert cells[pair].attrs["data-status"] == "ok"
            assert float(cells[pair].attrs["data-avg-rtt-ms"]) >= 20.0
        # n3 drops what comes in and refuses what goes out: nothing to or from it is answered.
        for pair in (("n1", "n3"), ("n2", "n3"), ("n3", "n1"), ("n3", "n2")):
            assert cells[pair].attrs["data-status"] in ("down", "error")
        # its kernel refuses n3's own probes; the others' it drops silently, and this
        # playbook reads no firewall that could name the rule
        for pair in (("n3", "n1"), ("n3", "n2")):
            assert cells[pair].attrs["data-verdict"] == "blocked here"
            assert "kernel refused to send (Operation not permitted)" in cells[pair].find_all("title")[0].text()
        for pair in (("n1", "n3"), ("n2", "n3")):
            assert cells[pair].attrs["data-verdict"] == "no reply"
    patterns = [item.text() for item in document.find_all("ul", id="patterns")[0].find_all("li")]
    assert "ipv4: no node reaches n3 (its inbound)" in patterns and "ipv6: n3 reaches no node (its outbound)" in patterns
