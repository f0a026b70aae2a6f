"""DELAY adds the configured round-trip time to one link and nothing to the others.

RTTs are judged by their median over many pings: scheduling noise on a busy machine
only ever adds time, and the median ignores the few pings it hits. The bounds say which
delay a link has (the configured one, not none and not twice it), not how precisely:
the probe accuracy benchmark measures that.
"""

from __future__ import annotations

import concurrent.futures
import re
import statistics

import pytest

pytestmark = pytest.mark.lab

RTT_RE = re.compile(r"time=([0-9.]+) ms")


def rtts_ms(lab, source, address: str, count: int = 20) -> list[float]:
    result = lab.run(source, ["ping", "-n", "-c", str(count), "-i", "0.02", "-W", "2", address], check=False, timeout=60)
    return [float(value) for value in RTT_RE.findall(result.stdout)]


@pytest.mark.parametrize("mode", ["encap", "hybrid"])
def test_delayed_link_shows_its_delay_and_the_others_none(lab_factory, mode):
    lab = lab_factory(nodes=3, firewall="none", mode=mode, delay="n1-n2=20ms")
    n1, n2, n3 = lab.nodes
    probes = [(source, address, delay)
              for source, target, delay in ((n1, n2, 20.0), (n2, n1, 20.0), (n1, n3, 0.0), (n3, n2, 0.0))
              for address in (target.gateway_ipv4, target.gateway_ipv6, target.transport_ipv4, target.transport_ipv6)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        measured = list(pool.map(lambda probe: rtts_ms(lab, probe[0], probe[1]), probes))
    for (source, address, delay), rtts in zip(probes, measured):
        assert len(rtts) >= 18, (source.name, address, rtts)
        assert min(rtts) >= delay, (source.name, address, rtts)
        assert statistics.median(rtts) < delay + max(5.0, delay / 2), (source.name, address, rtts)
