"""Where each node of a YAML input file is, so that a problem names its line and its field.

``Document`` keeps the line of every node by path; ``validate`` runs a pydantic adapter on a
piece of the file and reports each error at the line and dotted field it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from billing_pipeline.billing.problems import ProblemLog

Path_ = tuple[str | int, ...]


@dataclass
class Document:
    """The YAML text with the line of every node, addressed by path."""

    file: str
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


def field_name(path: Path_) -> str | None:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or None


def index_nodes(node: yaml.Node, path: Path_, document: Document, log: ProblemLog) -> None:
    # A mapping entry is located at its key's line, which is where a person looks for it.
    document.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                log.add(
                    document.file,
                    "duplicate key: YAML would silently keep only the last one",
                    row=key_node.start_mark.line + 1,
                    field=field_name((*path, key)),
                    value=key,
                )
            seen.add(key)
            document.lines.setdefault((*path, key), key_node.start_mark.line + 1)
            index_nodes(value_node, (*path, key), document, log)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            index_nodes(item, (*path, index), document, log)


def walk(raw: Any, loc: tuple[Any, ...]) -> Path_:
    """Map a pydantic error location onto the YAML path (dropping discriminated-union tags)."""
    path: list[str | int] = []
    node = raw
    for part in loc:
        if isinstance(node, dict) and part not in node and part == node.get("model"):
            continue
        path.append(part)
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(path)


def validate(adapter: TypeAdapter[Any], raw: Any, path: Path_, document: Document, log: ProblemLog) -> Any:
    try:
        return adapter.validate_python(raw)
    except ValidationError as error:
        for detail in error.errors():
            sub_path = (*path, *walk(raw, detail["loc"]))
            value = detail.get("input")
            if detail["type"] in ("union_tag_invalid", "union_tag_not_found"):
                sub_path = (*sub_path, "model")
                value = value.get("model") if isinstance(value, dict) else None
            reason = detail["msg"].removeprefix("Value error, ")
            if detail["type"] == "extra_forbidden":
                reason = "unknown key (check its spelling)"
            log.add(
                document.file,
                reason,
                row=document.line_of(sub_path),
                field=field_name(sub_path),
                value=value if isinstance(value, str | int | float) and not isinstance(value, bool) else None,
            )
        return None
