"""orchsim's options on locust's command line, shared by both locustfiles."""

from __future__ import annotations

from typing import Any

__all__ = ["add_arguments"]


def add_arguments(parser: Any) -> None:
    """Register orchsim's options on locust's parser (each also read from an ORCHSIM_* variable)."""
    group = parser.add_argument_group("orchsim")
    group.add_argument("--scenario", env_var="ORCHSIM_SCENARIO", default="", help="orchsim scenario file")
    group.add_argument("--time-scale", type=float, env_var="ORCHSIM_TIME_SCALE", default=1.0, help="K: 1/K s a sim s")
    group.add_argument("--scenario-seed", type=int, env_var="ORCHSIM_SEED", default=None, help="default: its seed")
    group.add_argument("--stream", action="store_true", env_var="ORCHSIM_STREAM", help="stream answers (TTFT)")
    group.add_argument("--max-tokens", type=int, env_var="ORCHSIM_MAX_TOKENS", default=8, help="tokens per answer")
    group.add_argument("--records", env_var="ORCHSIM_RECORDS", default="", help="per-attempt CSV path")
    group.add_argument("--shards", type=int, env_var="ORCHSIM_SHARDS", default=0, help="default: --processes or 1")
    group.add_argument("--admin-url", env_var="ORCHSIM_ADMIN_URL", default="", help="where faults go (default: --host)")
    group.add_argument(
        "--header",
        action="append",
        default=[],
        help="'Name: value' sent with every request (repeat it; ORCHSIM_AUTH_TOKEN / ORCHSIM_HEADERS keep "
        "secrets off the command line)",
    )
    group.add_argument("--model", env_var="ORCHSIM_MODEL", default="", help="model every request names")
    group.add_argument("--ca-file", env_var="ORCHSIM_CA_FILE", default=None, help="CA bundle for an https host")
    group.add_argument(
        "--insecure", action="store_true", env_var="ORCHSIM_INSECURE", help="https without checking the certificate"
    )
    group.add_argument(
        "--inject-faults", action="store_true", env_var="ORCHSIM_INJECT_FAULTS", help="play faults via /admin/faults"
    )
