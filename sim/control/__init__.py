"""The control plane: what the routing layer decides, shared by the simulator and the mock service.

Each module is a pure, clock-agnostic decision object or function: it is given the time
(``now_s``) or a duration when it needs one, never reads a clock, and imports neither SimPy nor
aiohttp. The simulator (``sim/engine/``) drives it with simulated time, the mock service
(``loadtest/mock/``) with its event loop's clock; both keep only their own event scheduling and I/O.

- ``health``: active health checks (inter / fall / rise) and the overload estimate of a probe;
- ``outlier``: passive outlier ejection (consecutive 5xx, ejection time, cap, reset rules);
- ``routing``: which servers are routable (the panic rule), which strategy a cluster runs,
  which clusters serve a request and whether one is remote;
- ``cluster_choice``: the first routing level, ``router.cluster_strategy``;
- ``capacity``: the routing layer's slots and router_saturation faults;
- ``faults``: how the faults in force on a server compose (slowdown, error_rate, healthcheck_flap);
- ``retry``: client retries (backoff, budget, throttling) and router retries;
- ``shedding``: CoDel and the adaptive concurrency limit.
"""
