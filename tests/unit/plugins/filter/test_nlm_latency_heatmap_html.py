# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.nodelatency.monitor.plugins.filter.nlm_latency_heatmap_html import (
    FilterModule,
    nlm_latency_heatmap_html,
)
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_html import LogScale, palette_colour
from ansible_collections.nodelatency.monitor.tests.unit.fixtures.reports.html_dom import parse
from ansible_collections.nodelatency.monitor.tests.unit.fixtures.reports.synthetic import synthetic_facts

HOSTILE = '<script>alert("n3")</script>&amp;'


def cells(document, family):
    (svg,) = document.find_all("svg", class_="heatmap", data_family=family)
    return {(cell.attrs["data-source"], cell.attrs["data-target"]): cell for cell in svg.find_all("g", class_="cell")}


def test_filter_module_exports_the_filter():
    assert FilterModule().filters() == {"nlm_latency_heatmap_html": nlm_latency_heatmap_html}


def test_one_heatmap_per_family_with_a_cell_per_pair(dual_stack_facts):
    document = parse(nlm_latency_heatmap_html(dual_stack_facts, hosts=["n1", "n2", "n3", "n4"]))

    for family in ("ipv4", "ipv6"):
        by_pair = cells(document, family)
        assert len(by_pair) == 4 * 4
        assert by_pair[("n1", "n1")].attrs["data-status"] == "self"
        assert by_pair[("n1", "n3")].attrs["data-status"] == "lossy"
        assert by_pair[("n1", "n3")].attrs["data-avg-rtt-ms"] == "0.424"
        assert by_pair[("n3", "n2")].attrs["data-status"] == "down"
        assert by_pair[("n4", "n1")].attrs["data-status"] == "missing"
        assert "data-avg-rtt-ms" not in by_pair[("n4", "n1")].attrs
    assert cells(document, "ipv6")[("n2", "n3")].attrs["data-status"] == "error"


def test_cells_show_their_state_in_colour_marks_and_tooltips(dual_stack_facts):
    by_pair = cells(parse(nlm_latency_heatmap_html(dual_stack_facts)), "ipv4")

    lossy = by_pair[("n1", "n3")]
    fill, frame = lossy.find_all("rect")
    assert frame.attrs["fill"] == "none" and frame.attrs["stroke"] == "#d7191c"
    assert lossy.find_all("title")[0].text() == (
        "n1 \u2192 n3, ipv4 198.18.0.3: lossy\navg 0.424 ms (min 0.420, max 0.428, jitter 0.004)\n"
        "3 of 5 replies, loss 40.0%")
    assert [text.text() for text in lossy.find_all("text")] == ["0.424"]
    down = by_pair[("n3", "n2")]
    assert down.find_all("rect")[0].attrs["fill"] == "#d7191c"
    assert len(down.find_all("path")) == 1
    # The fastest pair gets the palette's first colour, the slowest its last.
    assert by_pair[("n1", "n4")].find_all("rect")[0].attrs["fill"] == "#fde725"
    assert by_pair[("n2", "n1")].find_all("rect")[0].attrs["fill"] == "#440154"


def test_legend_has_scale_ticks_and_every_mark(dual_stack_facts):
    (legend,) = parse(nlm_latency_heatmap_html(dual_stack_facts)).find_all("svg", id="legend")

    ticks = [tick.text() for tick in legend.find_all("text", class_="tick")]
    assert ticks[0] == "0.198 ms" and ticks[-1] == "20.40 ms" and len(ticks) == 5
    assert [mark.attrs["data-status"] for mark in legend.find_all("g", class_="legend-mark")] == [
        "lossy", "down", "error", "missing"]


def test_the_page_fetches_nothing_and_runs_nothing(dual_stack_facts):
    document = parse(nlm_latency_heatmap_html(dual_stack_facts))

    assert not document.find_all("script") and not document.find_all("link") and not document.find_all("img")
    assert not [element for element in document.iter() if {"src", "href"} & set(element.attrs)]
    (policy,) = document.find_all("meta", http_equiv="Content-Security-Policy")
    assert policy.attrs["content"].startswith("default-src 'none'")
    fills = {element.attrs["fill"] for element in document.iter() if element.attrs.get("fill", "").startswith("url(")}
    assert fills == {"url(#nodata-ipv4)", "url(#nodata-ipv6)", "url(#scale)", "url(#nodata-legend)"}


def test_names_and_messages_are_escaped():
    names = ["n1", "n2", HOSTILE]
    facts = synthetic_facts(names, families=("ipv4", "ipv6"))
    facts[1]["peers"][1]["targets"][1]["error"] = "<b>bold</b> & 'quoted'"

    html = nlm_latency_heatmap_html(facts, title="Lab <1>")
    document = parse(html)

    assert not document.find_all("script") and not document.find_all("b")
    assert document.find_all("h1")[0].text() == "Lab <1>"
    assert HOSTILE in {cell.attrs["data-target"] for cell in document.find_all("g", class_="cell")}
    assert HOSTILE in [row.text() for row in document.find_all("tr", data_node=HOSTILE)[0].find_all("td")]
    assert "<b>bold</b> & 'quoted'" in document.find_all("table", id="pair-details")[0].text()


def test_the_details_table_lists_the_worst_pairs_first(dual_stack_facts):
    document = parse(nlm_latency_heatmap_html(dual_stack_facts, details_rows=3))

    (table,) = document.find_all("table", id="pair-details")
    rows = [[cell.text() for cell in row.find_all("td")][:5] for row in table.find_all("tr")[1:]]
    assert rows == [["n2", "n3", "ipv6", "2001:db8::3", "unreachable"],
                    ["n3", "n2", "ipv4", "198.18.0.2", "no reply"],
                    ["n3", "n2", "ipv6", "2001:db8::2", "no reply"]]
    assert document.find_all("details", id="pairs")[0].find_all("summary")[0].text() == (
        "The 3 worst of 18 pairs, worst first")


def test_a_hundred_nodes_get_small_cells_without_text():
    names = ["n%d" % number for number in range(1, 101)]
    document = parse(nlm_latency_heatmap_html(synthetic_facts(names), details_rows=0))

    (svg,) = document.find_all("svg", class_="heatmap")
    by_pair = cells(document, "ipv4")
    assert len(by_pair) == 100 * 100
    assert {cell.find_all("rect")[0].attrs["width"] for cell in by_pair.values()} == {"8"}
    assert not [cell for cell in by_pair.values() if cell.find_all("text")]
    assert int(svg.attrs["width"]) < 900


def test_scale_and_palette_ends():
    scale = LogScale([0.1, 10.0])
    assert (scale.position(0.1), scale.position(1.0), scale.position(10.0)) == (0.0, 0.5, 1.0)
    assert scale.value(0.5) == pytest.approx(1.0)
    # Close values stay close: the scale spans at least a factor of ten around them.
    quiet = LogScale([20.2, 20.5])
    assert (quiet.low, quiet.high) == (pytest.approx(6.43, abs=0.01), pytest.approx(64.3, abs=0.1))
    assert 0.49 < quiet.position(20.2) < quiet.position(20.5) < 0.51
    assert LogScale([2.0, 2.0]).position(2.0) == pytest.approx(0.5)
    assert (palette_colour(0.0), palette_colour(1.0), palette_colour(2.0)) == ("#fde725", "#440154", "#440154")


@pytest.mark.parametrize(("options", "message"), [
    ({"title": 5}, "nlm_latency_heatmap_html: title must be a string, got int"),
    ({"details_rows": -1}, "nlm_latency_heatmap_html: details_rows must be a whole number of at least 0, got -1"),
])
def test_bad_options_are_named(dual_stack_facts, options, message):
    with pytest.raises(AnsibleFilterError) as error:
        nlm_latency_heatmap_html(dual_stack_facts, **options)
    assert error.value.message == message
