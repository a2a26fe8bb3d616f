"""Reading a config: the YAML file (size, encoding, no repeated keys, no aliases) and its
validation into :class:`~discover.config.StudyConfig`, with errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from discover.config.base import MAX_CONFIG_BYTES, ConfigError
from discover.config.study_config import MODEL_TYPES, StudyConfig


def load_config(path: str | Path) -> tuple[StudyConfig, Path]:
    """Read and validate a YAML config; return it and the folder relative paths refer to.

    The file must be UTF-8 text of at most :data:`MAX_CONFIG_BYTES`. The YAML reader is
    stricter than YAML itself: a key repeated in one mapping is an error (YAML would keep
    the last one silently), and aliases (``*name``) are refused altogether: a config has
    no need for them, and nested aliases can expand to gigabytes ("billion laughs").

    Raises:
        ConfigError: a missing or unreadable file, a folder, non-UTF-8 text, bad YAML, a
            duplicate key or alias (with its line), or an invalid key or value (named).
    """
    path = Path(path)
    raw = _read_yaml(path, _read_text(path))
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must contain a mapping of keys, got {type(raw).__name__}")
    return parse_config(raw, source=str(path)), path.parent


def _read_text(path: Path) -> str:
    """The file's UTF-8 text (at most :data:`MAX_CONFIG_BYTES`)."""
    try:
        if path.is_dir():
            raise ConfigError(f"config {path} is a folder, not a YAML file")
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES} bytes")
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {err.start}: {err.object[err.start]:#x})"
        ) from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from None


def _read_yaml(path: Path, text: str) -> Any:
    """``text`` parsed by :class:`_StrictLoader`; errors name ``path`` and the line."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: {err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    except RecursionError:
        raise ConfigError(f"{path}: lists or mappings nest too deeply") from None


class _StrictLoader(yaml.SafeLoader):
    """The safe YAML loader, refusing aliases and a key repeated in one mapping."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                f"alias *{event.anchor} is not allowed in a config; write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # the base class refuses unhashable keys
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in first:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {first[key]}); YAML would keep "
                    "only the last",
                    key_node.start_mark,
                )
            first[key] = line
        return super().construct_mapping(node, deep=deep)


def parse_config(raw: dict[str, Any], source: str = "config") -> StudyConfig:
    """Validate a config given as a dictionary (see :func:`load_config`)."""
    try:
        return StudyConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"invalid {source}:\n" + _explain(err)) from None


def _explain(err: ValidationError) -> str:
    lines = []
    for problem in err.errors():
        loc = list(problem["loc"])
        if loc[:1] == ["model"] and len(loc) > 1 and loc[1] in MODEL_TYPES:
            del loc[1]  # the union's tag is not a key of the file
        if problem["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc.append("type")
        key = ".".join(str(part) for part in loc) or "(top level)"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)
