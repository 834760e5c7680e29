"""YAML reading with YAML 1.2 booleans: only true/false are booleans, so a key such as ``on``
(``clients.retries.on``) stays a string, as YAML 1.2 and most editors read it."""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["flow_yaml", "load_yaml"]

_BOOL = "tag:yaml.org,2002:bool"


class _Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's yes/no/on/off booleans."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def load_yaml(text: str) -> Any:
    """Parse ``text`` (raises yaml.YAMLError on bad syntax)."""
    return yaml.load(text, Loader=_Loader)


def flow_yaml(value: Any) -> str:
    """``value`` as one line of YAML, as a ``--set PATH=VALUE`` value."""
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
