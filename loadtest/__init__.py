"""Load-testing side of orchsim: mock service, locust scenarios, validation (see the issues)."""
