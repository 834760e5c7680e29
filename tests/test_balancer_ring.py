"""Held out against the real HAProxy: ``balance random(1)`` sends each server its share of the
consistent-hash ring as ``sim.implementations.haproxy_ring`` computes it, not an equal share."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from scipy import stats

from sim.implementations.haproxy_ring import RING_SPACE, ring_shares
from tests.balancer_helpers import binary_or_skip
from tests.test_balancer_serve import _chat, started_topology
from tests.test_mock_faults import served

SERVERS = 8  # as validate-strategies, whose power-of-two rows this ring moves
REQUESTS = 4000  # about 3 s through HAProxy and the mock on an idle machine
ALPHA = 0.001
# random(1) never compares loads, so neither the service time nor concurrency changes the counts:
# cheap requests (1 ms real at time scale 10), many slots (no request waits)
SCENARIO = f"""name: ring-shares
duration: 1m
seed: 1
workload: {{rate: 8}}
clusters:
  - name: pool
    servers: {SERVERS}
    slots: 64
    service: {{kind: deterministic, mean: 10ms}}
router: {{strategy: random}}
"""


def _power_against_uniform(shares: np.ndarray) -> float:
    """Chance that a chi-square test at ALPHA rejects equal shares when the truth is ``shares``."""
    uniform = np.full(len(shares), 1 / len(shares))
    noncentrality = REQUESTS * float(np.sum((shares - uniform) ** 2 / uniform))
    critical = stats.chi2.isf(ALPHA, len(shares) - 1)
    return float(stats.ncx2.sf(critical, len(shares) - 1, noncentrality))


def test_haproxy_random_sends_each_server_its_ring_share(tmp_path: Path) -> None:
    binary_or_skip("haproxy")
    path = tmp_path / "ring-shares.yaml"
    path.write_text(SCENARIO)
    topology = started_topology("haproxy", tmp_path / "haproxy", path=path)
    try:
        assert "balance random(1)" in topology.config_path.read_text()
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: _chat(topology.url)[0], range(REQUESTS)))
        counts = served(topology.admin_url)
    finally:
        topology.stop()
    assert statuses == [200] * REQUESTS
    measured = np.array([counts.get(str(index), 0) for index in range(SERVERS)])
    shares = np.array(list(ring_shares({index + 1: 1 for index in range(SERVERS)}).values())) / RING_SPACE
    fit = stats.chisquare(measured, REQUESTS * shares)
    assert fit.pvalue > ALPHA, (measured.tolist(), (REQUESTS * shares).round().tolist())
    power = _power_against_uniform(shares)
    assert power > 0.99, power  # 8 servers' ring shares (0.82..1.20 of an eighth) are decisive at 4000
    uniform = stats.chisquare(measured, np.full(SERVERS, REQUESTS / SERVERS))
    assert uniform.pvalue < ALPHA, (measured.tolist(), uniform.pvalue)
