"""YAML reading with YAML 1.2 booleans: only true/false are booleans, so a key such as ``on``
(``clients.retries.on``) stays a string, as YAML 1.2 and most editors read it.

Reading is bounded: nesting deeper than ``MAX_DEPTH`` and documents whose aliases would expand to
more than ``MAX_NODES`` values (a "billion laughs" file) are syntax errors at the offending line,
found on the node graph before anything is built or copied.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.composer import ComposerError

from sim.inputs.safe_input import MAX_DEPTH, MAX_NODES

__all__ = ["flow_yaml", "load_yaml"]

_BOOL = "tag:yaml.org,2002:bool"


class _Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's yes/no/on/off booleans, with a nesting limit."""

    _depth = 0

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        """Refuse deep ``[[[``/``{{{`` while scanning: the scanner looks ahead over a whole flow
        collection, so the composer's own check would come after seconds of work."""
        if self.flow_level >= MAX_DEPTH:
            mark = self.get_mark()
            raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels, the limit", mark)
        super().fetch_flow_collection_start(token_class)

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels, the limit", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def load_yaml(text: str) -> Any:
    """Parse ``text`` (raises yaml.YAMLError on bad syntax and beyond the limits)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Count the values ``root`` stands for with every alias expanded, without expanding: each
    node's count is computed once (post-order, no recursion). A node that contains itself is refused."""
    size: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            size[key] = 1 + sum(size[id(child)] for child in _children(node))
            if size[key] > MAX_NODES:
                raise ComposerError(
                    None, None, f"aliases expand to more than {MAX_NODES} values, the limit", node.start_mark
                )
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise ComposerError(None, None, "an alias refers to a node that contains it", node.start_mark)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)


def flow_yaml(value: Any) -> str:
    """``value`` as one line of YAML, as a ``--set PATH=VALUE`` value."""
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
