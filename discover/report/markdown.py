"""The report as Markdown: figures by relative path, equations as ``$...$`` LaTeX."""

from __future__ import annotations

from pathlib import Path

from discover.report.document import (
    Block,
    Bullets,
    Cell,
    Code,
    Document,
    Equation,
    Figure,
    Math,
    Notice,
    Paragraph,
    Section,
    Table,
)


def _math(cell: Math) -> str:
    plain = f"`{cell.text}`"
    return plain if cell.latex is None else f"${cell.latex}$ ({plain})"


def _cell(cell: Cell) -> str:
    text = _math(cell) if isinstance(cell, Math) else cell
    return text.replace("|", "\\|").replace("\n", " ")


def _table(table: Table) -> str:
    lines = [f"**{table.caption}**", ""] if table.caption else []
    lines += [
        "| " + " | ".join(_cell(h) for h in table.header) + " |",
        "|" + "---|" * len(table.header),
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _equation(equation: Equation) -> str:
    lines = [f"**{equation.label}**", ""]
    if equation.rhs.latex is not None and equation.lhs.latex is not None:
        lines += [f"$$ {equation.lhs.latex} = {equation.rhs.latex} $$", ""]
    lines.append(f"`{equation.lhs.text} = {equation.rhs.text}`")
    return "\n".join(lines)


def _block(block: Block, root: Path) -> str:
    if isinstance(block, Paragraph):
        return block.text
    if isinstance(block, Notice):
        return f"> **Note:** {block.text}"
    if isinstance(block, Bullets):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Figure):
        relative = block.path.relative_to(root).as_posix()
        return f"![{block.caption}]({relative})\n\n*{block.caption}*"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Equation):
        return _equation(block)
    if isinstance(block, Code):
        return f"```{block.language}\n{block.text.rstrip()}\n```"
    raise TypeError(f"cannot render {type(block).__name__} as Markdown")


def _section(section: Section, level: int, root: Path) -> str:
    parts = [f"{'#' * level} {section.title}"]
    parts += [_block(block, root) for block in section.blocks]
    parts += [_section(sub, level + 1, root) for sub in section.subsections]
    return "\n\n".join(parts)


def render_markdown(document: Document, root: Path) -> str:
    """The whole report; figure paths are written relative to ``root`` (the run directory)."""
    body = "\n\n".join(_section(section, 2, root) for section in document.sections)
    return f"# {document.title}\n\n{body}\n"
