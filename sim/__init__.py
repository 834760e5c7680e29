"""orchsim: simulate, compare and load-test the routing layer of an LLM service."""

from sim.compiled import compiled_engine, use_sources

__version__ = "0.1.0"
__all__ = ["__version__"]

if not compiled_engine():  # ORCHSIM_PURE_PYTHON=1, or sources edited since the build: load the sources (sim.compiled)
    use_sources()
