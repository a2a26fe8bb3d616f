"""The report as plain data: sections of blocks, rendered by ``html`` and ``markdown``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Math:
    """An expression: LaTeX and presentation MathML (an ``<mrow>`` without ``<math>``)
    when it parses, and always as plain text."""

    latex: str | None
    text: str
    mathml: str | None = None


Cell = str | Math


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Notice:
    """Something missing or failed, shown so that it cannot be overlooked."""

    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Figure:
    """A PNG under the report's ``figures/`` folder."""

    path: Path
    caption: str


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Equation:
    """A displayed equation ``lhs = rhs`` with a label such as "selected"."""

    label: str
    lhs: Math
    rhs: Math


@dataclass(frozen=True)
class Code:
    """Preformatted text, e.g. the configuration in YAML."""

    text: str
    language: str = ""


Block = Paragraph | Notice | Bullets | Figure | Table | Equation | Code


@dataclass
class Section:
    """A titled part of the report; ``subsections`` follow its own blocks."""

    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)


@dataclass
class Document:
    title: str
    sections: list[Section]
