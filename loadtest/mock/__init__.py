"""Mock LLM service over real HTTP, built from a scenario: backends (GPU stand-ins) and a router."""
