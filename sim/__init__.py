"""orchsim: simulate, compare and load-test the routing layer of an LLM service."""

from sim.compiled import pure_requested, use_sources

__version__ = "0.1.0"
__all__ = ["__version__"]

if pure_requested():  # ORCHSIM_PURE_PYTHON=1: the engine's sources, not its compiled extensions (sim.compiled)
    use_sources()
