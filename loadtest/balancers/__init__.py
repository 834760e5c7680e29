"""Real load balancers (HAProxy, nginx) configured from a scenario, in front of the mock backends."""
