"""The report as one self-contained HTML page: figures embedded as base64 PNG, equations
as MathML (rendered by the browser: no script, no network), tables in a wrapper that
scrolls sideways when they are wider than the page.

Beside every typeset expression its LaTeX and plain text sit in a folded ``<details>``,
for copying.
"""

from __future__ import annotations

import base64
from html import escape

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

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #4c72b0; padding-bottom: .2em; overflow-wrap: anywhere; }
h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
nav ul { columns: 2; }
p, li, figcaption, .notice { overflow-wrap: anywhere; }
.table-wrap { max-width: 100%; overflow-x: auto; margin: .8em 0; }
table { border-collapse: collapse; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top;
         overflow-wrap: normal; }
td code { word-break: break-all; }
th { background: #eef1f7; }
caption { caption-side: top; font-weight: 600; text-align: left; padding: .2em 0; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #444; }
.notice { background: #fff4e0; border-left: 4px solid #e0a030; padding: .5em .8em; margin: .8em 0; }
.equation { margin: .8em 0; padding: .3em .8em; background: #f7f7f7; overflow-x: auto; }
.equation .label { font-size: .85em; color: #555; }
math[display="block"] { font-size: 1.15em; margin: .4em 0; }
details.source { font-size: .8em; color: #555; }
details.source code { word-break: break-all; }
pre { background: #f5f5f5; padding: .8em; overflow-x: auto; font-size: .85em; }
code { font-size: .9em; }
"""


def _source(latex: str | None, text: str) -> str:
    """The LaTeX and plain text of an expression, folded away."""
    parts = [f"LaTeX: <code>{escape(latex)}</code>"] if latex is not None else []
    parts.append(f"plain text: <code>{escape(text)}</code>")
    return '<details class="source"><summary>source</summary>' + "<br>".join(parts) + "</details>"


def _math(cell: Math) -> str:
    if cell.mathml is None:
        return f"<code>{escape(cell.text)}</code>"
    return f"<math>{cell.mathml}</math>" + _source(cell.latex, cell.text)


def _cell(cell: Cell) -> str:
    return _math(cell) if isinstance(cell, Math) else escape(cell)


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in table.rows
    )
    caption = f"<caption>{escape(table.caption)}</caption>" if table.caption else ""
    return (
        f'<div class="table-wrap"><table>{caption}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _equation(equation: Equation) -> str:
    lhs, rhs = equation.lhs, equation.rhs
    plain = f"{lhs.text} = {rhs.text}"
    label = f'<div class="label">{escape(equation.label)}</div>'
    if lhs.mathml is None or rhs.mathml is None:
        return f'<div class="equation">{label}<code>{escape(plain)}</code></div>'
    latex = f"{lhs.latex} = {rhs.latex}" if lhs.latex and rhs.latex else None
    typeset = f'<math display="block">{lhs.mathml}<mo>=</mo>{rhs.mathml}</math>'
    return f'<div class="equation">{label}{typeset}{_source(latex, plain)}</div>'


def _figure(figure: Figure) -> str:
    data = base64.b64encode(figure.path.read_bytes()).decode("ascii")
    caption = escape(figure.caption)
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{caption}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{escape(block.text)}</p>"
    if isinstance(block, Notice):
        return f'<div class="notice">{escape(block.text)}</div>'
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Figure):
        return _figure(block)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Equation):
        return _equation(block)
    if isinstance(block, Code):
        return f"<pre>{escape(block.text)}</pre>"
    raise TypeError(f"cannot render {type(block).__name__} as HTML")


def _section(section: Section, level: int) -> str:
    parts = [f'<h{level} id="{escape(section.anchor)}">{escape(section.title)}</h{level}>']
    parts += [_block(block) for block in section.blocks]
    parts += [_section(sub, level + 1) for sub in section.subsections]
    return "\n".join(parts)


def render_html(document: Document) -> str:
    """The whole page; figures are read from their paths and embedded."""
    contents = "".join(
        f'<li><a href="#{escape(s.anchor)}">{escape(s.title)}</a></li>' for s in document.sections
    )
    body = "\n".join(_section(section, 2) for section in document.sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(document.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{escape(document.title)}</h1>\n<nav><ul>{contents}</ul></nav>\n{body}\n"
        "</body>\n</html>\n"
    )
