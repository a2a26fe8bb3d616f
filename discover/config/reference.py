"""``docs/config.md``: every config key (dotted path), its type, default and meaning,
generated from the pydantic models of :mod:`discover.config`, grouped by section, with an
example config per model type.

    python -m discover.config.reference > docs/config.md
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from discover.config.base import ExpressionText
from discover.config.selection import FLAT_SELECTION_KEYS
from discover.config.study_config import StudyConfig

REGENERATE = "python -m discover.config.reference > docs/config.md"
"""The command that rewrites ``docs/config.md``."""

PLACEHOLDERS = {"neural": "<slot>", "bounds": "<state>", "hypotheses": "<name>"}
"""How a mapping's own keys are written in a dotted path (default ``<name>``)."""

EXAMPLES = {
    "ode": """\
name: lotka_volterra
seed: 0
data: {path: data.csv, time: t}        # columns: time, observed states, forcings
model:
  type: ode
  states: [x, y]
  parameters: {alpha: 1.3, delta: 1.8}
  equations:
    x: "alpha*x - F(x, y)"
    y: "-delta*y + G(x, y)"
  neural:
    F: {inputs: [x, y], output: ">=0"}
    G: {inputs: [x, y], output: ">=0"}
train: {split: 0.7, iterations: 1000}
distill: {engine: auto, selection: {rule: bic, refit: all, refit_steps: 20}}
reinsert: {refit: all}
""",
    "hbv": """\
name: hbv_twin
data: {source: twin, sites: 20, days: 1095, planted: {evapotranspiration: "pet*soil_wetness**0.5"}}
model:
  type: hbv
  warmup: 365
  parameters: attributes
  neural:
    evapotranspiration: {inputs: [pet, soil_wetness]}
train: {split: 0.6, validation: 0.2, iterations: 150}
distill:
  engine: auto
  selection: {rule: retrain, shortlist: 2, tolerance: 0.02, alpha: 0.05}
hypotheses:
  H_power: {slot: evapotranspiration, expression: "pet*soil_wetness**b", constants: {b: 0.5}}
truth: {evapotranspiration: "pet*soil_wetness**0.5"}
""",
}
"""A short config per model type (``docs/config.md`` shows them; each must validate)."""


@dataclass(frozen=True)
class Section:
    """One table of the reference: the keys of ``model`` found under ``path``."""

    path: str
    model: type[BaseModel]
    tag: str = ""
    """The ``type`` value selecting this model where the section is a union (``model``)."""

    @property
    def title(self) -> str:
        """The heading: the dotted path (and model type), or "Top level"."""
        if not self.path:
            return "Top level"
        return f"`{self.path}` (type `{self.tag}`)" if self.tag else f"`{self.path}`"


def sections(model: type[BaseModel] = StudyConfig, path: str = "", tag: str = "") -> list[Section]:
    """Every section under ``model`` (itself first), depth first in field order."""
    found = [Section(path, model, tag)]
    for key, field in model.model_fields.items():
        name = field.alias or key
        child = f"{path}.{name}" if path else name
        for inner, placeholder in _nested_models(field.annotation):
            inner_path = f"{child}.{PLACEHOLDERS.get(name, '<name>')}" if placeholder else child
            union_tag = _tag(inner) if _is_union(field.annotation) else ""
            found += [s for s in sections(inner, inner_path, union_tag) if s not in found]
    return found


def _nested_models(annotation: Any) -> list[tuple[type[BaseModel], bool]]:
    """Models inside ``annotation``, each with whether it sits under a mapping's keys."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, False)]
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is dict:
        return [(model, True) for model, _ in _nested_models(args[1])]
    if origin is Annotated:
        return _nested_models(args[0])
    if origin in (Union, types.UnionType):
        return [found for arg in args for found in _nested_models(arg)]
    return []


def _is_union(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    args = [a for a in get_args(annotation) if a is not type(None)]
    return get_origin(annotation) in (Union, types.UnionType) and len(args) > 1


def _tag(model: type[BaseModel]) -> str:
    field = model.model_fields.get("type")
    return str(get_args(field.annotation)[0]) if field is not None else ""


def type_text(annotation: Any) -> str:
    """``annotation`` in words, with its bounds (e.g. ``number, > 0, < 1``)."""
    if annotation == ExpressionText:
        return "expression"
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        bounds = [b for meta in args[1:] for b in _bounds(meta)]
        return ", ".join([type_text(args[0]), *bounds])
    if origin is Literal:
        listed = ", ".join(f"`{a}`" for a in args)
        return listed if len(args) == 1 else f"one of {listed}"
    if origin in (Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        text = " or ".join(dict.fromkeys(type_text(a) for a in kept))
        return f"{text} or null" if len(kept) < len(args) else text
    if origin is list:
        return f"list of {type_text(args[0])}"
    if origin is dict:
        return f"mapping of name → {type_text(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    names = {bool: "boolean", int: "integer", float: "number", str: "text"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)).lower())


def _bounds(meta: Any) -> list[str]:
    """Constraints in words: ``> 0``, ``≤ 4096``, ``at most 16 items``."""
    if isinstance(meta, FieldInfo):
        return [b for inner in meta.metadata for b in _bounds(inner)]
    signs = {
        annotated_types.Gt: ("gt", ">"),
        annotated_types.Ge: ("ge", "≥"),
        annotated_types.Lt: ("lt", "<"),
        annotated_types.Le: ("le", "≤"),
    }
    for kind, (attribute, sign) in signs.items():
        if isinstance(meta, kind):
            value = getattr(meta, attribute)
            return [f"{sign} {value if isinstance(value, int) else format(value, 'g')}"]
    if isinstance(meta, annotated_types.MinLen):
        return [f"at least {meta.min_length} items"]
    if isinstance(meta, annotated_types.MaxLen):
        return [f"at most {meta.max_length} items"]
    return []


def default_text(field: FieldInfo) -> str:
    """The default as YAML writes it, ``required``, or ``see below`` for a section."""
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "see below"
    text = value if isinstance(value, str) and value else json.dumps(value)
    return f"`{text}`"


def plain(text: str | None) -> str:
    """Docstring text on one line, reST roles and literals as Markdown code."""
    text = " ".join((text or "").split())
    text = re.sub(r":\w+:`~?(?:[\w.]+\.)?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`").replace("|", "\\|")


def section_text(section: Section) -> str:
    """A section's heading, its description and its table of keys."""
    lines = [f"## {section.title}", "", plain(inspect.getdoc(section.model)), ""]
    lines += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for key, field in section.model.model_fields.items():
        name = field.alias or key
        dotted = f"{section.path}.{name}" if section.path else name
        kind = type_text(
            Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        )
        kind = kind.replace("|", "\\|")
        meaning = plain(field.description)
        lines.append(f"| `{dotted}` | {kind} | {default_text(field)} | {meaning} |")
    return "\n".join(lines)


def reference() -> str:
    """The whole text of ``docs/config.md``."""
    head = [
        "# Configuration reference",
        "",
        f"Generated from the models in `discover/config/` by `{REGENERATE}`; do not edit "
        "it by hand (a test fails when it is out of date). A key shown as `<slot>`, "
        "`<state>` or `<name>` is one you choose. Unknown keys are refused, every number "
        "must be finite, and an error names the key.",
        "",
        "## Examples",
    ]
    for kind, text in EXAMPLES.items():
        head += ["", f"Model type `{kind}`:", "", "```yaml", text.rstrip(), "```"]
    head += ["", "## Deprecated keys", "", _deprecated()]
    body = [section_text(s) for s in sections()]
    return "\n\n".join(["\n".join(head), *body]) + "\n"


def _deprecated() -> str:
    rows = "\n".join(
        f"| `distill.{old}` | `distill.selection.{new}` |"
        for old, new in FLAT_SELECTION_KEYS.items()
    )
    return (
        "The selection settings used to be keys of `distill`. Until the next release they "
        "are still read (with a warning) and moved under `distill.selection`; giving a "
        "setting both ways is an error.\n\n| old key | new key |\n| --- | --- |\n" + rows
    )


if __name__ == "__main__":
    sys.stdout.write(reference())
