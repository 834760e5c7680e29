"""The router's optional request rate limit (``orchsim serve --rate-limit RPS``): a token bucket over
real time; a request that finds it empty gets OpenAI's 429 with ``retry-after``.

``retry-after`` is whole seconds (HTTP's form, rounded up, at least 1); ``retry-after-ms`` (which
OpenAI's clients read first) and the ``x-ratelimit-*`` headers say it more precisely.
"""

from __future__ import annotations

import math
import time

from aiohttp import web

from loadtest.mock.openai_api import error_response

__all__ = ["RateLimit", "parse_rate_limit"]


class RateLimit:
    """``rate_rps`` requests a second on average, bursts of up to ``burst`` at once."""

    def __init__(self, rate_rps: float, burst: int) -> None:
        if not rate_rps > 0 or not math.isfinite(rate_rps):
            raise ValueError(f"--rate-limit: must be a positive number of requests per second (got {rate_rps})")
        if burst < 1:
            raise ValueError(f"--rate-limit: the burst must be at least 1 (got {burst})")
        self.rate_rps, self.burst = rate_rps, burst
        self.tokens, self.when = float(burst), time.monotonic()

    def take(self) -> float:
        """Take a token: 0.0 when the request may go, else the seconds until one is there."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.when) * self.rate_rps)
        self.when = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate_rps

    def refusal(self, wait_s: float) -> web.Response:
        """The 429 answer for a request that came ``wait_s`` too early."""
        headers = {
            "retry-after": str(max(1, math.ceil(wait_s))),
            "retry-after-ms": str(max(1, math.ceil(wait_s * 1000))),
            "x-ratelimit-limit-requests": f"{self.rate_rps:g}/s",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": f"{wait_s:.3f}s",
        }
        message = f"Rate limit reached: {self.rate_rps:g} requests per second (bursts of {self.burst}); retry later"
        return error_response(429, message, headers=headers, code="rate_limit_exceeded")


def parse_rate_limit(text: str) -> RateLimit:
    """``RPS`` or ``RPS:BURST`` (burst default: RPS rounded up); ValueError naming the option."""
    rate_text, _, burst_text = text.partition(":")
    try:
        rate = float(rate_text)
        burst = int(burst_text) if burst_text else max(1, math.ceil(rate))
    except ValueError:
        raise ValueError(f"--rate-limit: expected RPS or RPS:BURST, e.g. 50 or 50:10 (got {text!r})") from None
    return RateLimit(rate, burst)
