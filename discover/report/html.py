"""The report as one self-contained HTML page: figures embedded as base64 PNG.

Equations are LaTeX typeset by MathJax when the page is online; the plain-text
expression is always shown beside them, so the page stays readable offline.
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

MATHJAX = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-svg.js"

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #4c72b0; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
nav ul { columns: 2; }
table { border-collapse: collapse; margin: .8em 0; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #eef1f7; }
caption { caption-side: top; font-weight: 600; text-align: left; padding: .2em 0; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #444; }
.notice { background: #fff4e0; border-left: 4px solid #e0a030; padding: .5em .8em; margin: .8em 0; }
.equation { margin: .8em 0; padding: .3em .8em; background: #f7f7f7; }
.equation .label { font-size: .85em; color: #555; }
.plain { color: #333; }
.plain code, code.plain { font-size: .95em; }
pre { background: #f5f5f5; padding: .8em; overflow-x: auto; font-size: .85em; }
code { font-size: .9em; }
body:not(.typeset) .tex { display: none; }
"""

MATHJAX_CONFIG = """window.MathJax = {startup: {pageReady: () => {
  document.body.classList.add("typeset");
  return MathJax.startup.defaultPageReady();
}}};"""
"""LaTeX is shown only once MathJax has loaded; offline the plain text stands alone."""


def _math(cell: Math) -> str:
    plain = f'<code class="plain">{escape(cell.text)}</code>'
    if cell.latex is None:
        return plain
    return f'<span class="tex">\\({escape(cell.latex)}\\)<br></span>{plain}'


def _cell(cell: Cell) -> str:
    return _math(cell) if isinstance(cell, Math) else escape(cell)


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in table.rows
    )
    caption = f"<caption>{escape(table.caption)}</caption>" if table.caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _equation(equation: Equation) -> str:
    typeset = ""
    if equation.rhs.latex is not None and equation.lhs.latex is not None:
        latex = f"{escape(equation.lhs.latex)} = {escape(equation.rhs.latex)}"
        typeset = f'<div class="tex">\\[{latex}\\]</div>'
    plain = escape(f"{equation.lhs.text} = {equation.rhs.text}")
    return (
        f'<div class="equation"><div class="label">{escape(equation.label)}</div>{typeset}'
        f'<div class="plain">plain text: <code>{plain}</code></div></div>'
    )


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
        f"<title>{escape(document.title)}</title>\n<style>{STYLE}</style>\n"
        f"<script>{MATHJAX_CONFIG}</script>\n"
        f'<script async src="{MATHJAX}"></script>\n</head>\n<body>\n'
        f"<h1>{escape(document.title)}</h1>\n<nav><ul>{contents}</ul></nav>\n{body}\n"
        "</body>\n</html>\n"
    )
