"""orchsim: simulate, compare and load-test the routing layer of an LLM service."""

__version__ = "0.1.0"
__all__ = ["__version__"]
