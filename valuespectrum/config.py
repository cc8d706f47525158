"""Loading pydantic models from YAML with errors that name the file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration file (or value) is wrong; the message says where and why."""


def _line_index(node: yaml.Node, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map every key path in a composed YAML document to its 1-based line number."""
    lines: dict[tuple[Any, ...], int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, key.value)
            lines[sub] = key.start_mark.line + 1
            for p, ln in _line_index(value, sub).items():
                lines.setdefault(p, ln)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            lines.update(_line_index(value, (*path, i)))
    return lines


#: Limits of a configuration file. YAML aliases are expanded by `yaml.safe_load`'s users
#: (pydantic walks every reference), so a few lines of anchors can stand for billions of
#: values ("billion laughs"); the expanded size is measured on the composed graph first.
MAX_YAML_BYTES = 2_000_000
MAX_YAML_VALUES = 200_000
MAX_YAML_DEPTH = 64


def _nesting_error(text: str) -> tuple[int, int] | None:
    """(line, depth) where the document nests deeper than MAX_YAML_DEPTH, else None.

    Reads parser events only (libyaml when available), which is iterative: the composer
    that builds nodes recurses per level and would take seconds to hit Python's limit.
    """
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                return event.start_mark.line + 1, depth
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


class _Recursive(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def _expanded_size(root: yaml.Node, limit: int) -> tuple[int, yaml.Node | None]:
    """Values in the document with aliases expanded; stops past `limit`.

    Returns the count and, when over the limit, the node where it went over (for its line).
    Sizes are memoised per node, so a bomb is measured in time linear in its text.

    Raises:
        _Recursive: an alias refers to a node that contains it.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        if not expanded:
            if any(id(c) in open_nodes for c in children):
                raise _Recursive(node)
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        open_nodes.discard(id(node))
        total = 1 + sum(sizes.get(id(c), 0) for c in children)
        sizes[id(node)] = total
        if total > limit:
            return total, node
    return sizes.get(id(root), 0), None


def _yaml_problem(err: yaml.YAMLError, text: str) -> str:
    """`:LINE: invalid YAML: problem` on one line, for any PyYAML error."""
    if isinstance(err, yaml.reader.ReaderError):
        char = err.character if isinstance(err.character, int) else ord(err.character[:1] or " ")
        line = text[:err.position].count("\n") + 1
        return f":{line}: invalid YAML: character #x{char:04x} is not allowed ({err.reason})"
    mark = getattr(err, "problem_mark", None)
    where = f":{mark.line + 1}" if mark is not None else ""
    problem = getattr(err, "problem", None) or str(err).split("\n")[0]
    return f"{where}: invalid YAML: {' '.join(str(problem).split())}"


def read_yaml(path: str | Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse a YAML file safely; returns the data and a key-path -> line map.

    Any problem with the file itself (missing, unreadable, not text, not YAML, too big,
    nested too deeply, aliases that expand to too many values) is a `ConfigError` naming
    the file and, where the parser knows it, the line.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: file not found") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from e
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"{path}: {len(raw):,} bytes; a configuration file may have at most "
                          f"{MAX_YAML_BYTES:,}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    try:
        deep = _nesting_error(text)
        if deep is not None:
            raise ConfigError(f"{path}:{deep[0]}: the YAML nests more than {MAX_YAML_DEPTH} "
                              "levels deep")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            try:
                _size, where = _expanded_size(node, MAX_YAML_VALUES)
            except _Recursive as r:
                raise ConfigError(f"{path}:{r.node.start_mark.line + 1}: an alias refers to a "
                                  "value that contains it (recursive YAML)") from None
            if where is not None:
                raise ConfigError(
                    f"{path}:{where.start_mark.line + 1}: the YAML expands to more than "
                    f"{MAX_YAML_VALUES:,} values (aliases of aliases?); write the values out")
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}{_yaml_problem(e, text)}") from None
    except ConfigError:
        raise
    except RecursionError:
        raise ConfigError(f"{path}: the YAML is nested too deeply") from None
    except ValueError as e:  # e.g. an integer with more digits than Python converts
        raise ConfigError(f"{path}: invalid value: {str(e).split(';')[0][:200]}") from None
    return data, (_line_index(node) if node is not None else {})


def _shown(key: Any) -> str:
    """A key path component as shown in messages (quoted if blank or unprintable)."""
    text = str(key)
    return text if text and text.isprintable() and text.strip() == text else repr(text)


def format_validation_error(
    err: ValidationError, source: str, lines: dict[tuple[Any, ...], int] | None = None
) -> str:
    """Render a pydantic error as `source:line: field: message` lines."""
    out = []
    for e in err.errors():
        loc = tuple(e["loc"])
        line = None
        if lines:
            for n in range(len(loc), -1, -1):
                if loc[:n] in lines:
                    line = lines[loc[:n]]
                    break
        field = ".".join(_shown(x) for x in loc) or "(top level)"
        where = f"{source}:{line}" if line else source
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        out.append(f"{where}: {field}: {' '.join(str(msg).split())}")
    return "\n".join(out)


def validate(model: type[M], data: Any, source: str, lines: dict | None = None) -> M:
    """Validate already-parsed data, raising ConfigError with located messages."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source, lines)) from None


def load_yaml_model(model: type[M], path: str | Path) -> M:
    """Load and validate one YAML file as `model`."""
    data, lines = read_yaml(path)
    if data is None:
        raise ConfigError(f"{path}: file is empty")
    return validate(model, data, str(path), lines)
