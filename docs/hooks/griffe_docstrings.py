"""Griffe extension: keras-trt's docstrings (written for doctest and Sphinx-style roles) as
Markdown for mkdocstrings.

- ``>>>`` examples (the prompt, its continuation lines and the expected output, up to a blank
  line) become ```` ```pycon ```` blocks, so they show as code, not as nested quotes;
- ``:class:`~keras_trt.x.Y``` and the other roles become cross-references: to the API reference
  for ``keras_trt.*`` names (optional: a private name renders as code, not as a broken link),
  inline code for everything else (``keras.Model``);
- reST ``::`` literal blocks keep their indentation, which Markdown reads as code.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|obj|data|exc|const):`(~?)([^`<]+?)(?:\s*<([^>]+)>)?`")


def _role(match):
    short, target, explicit = match.group(1), match.group(2).strip(), match.group(3)
    identifier = (explicit or target).lstrip("~.").strip()
    text = identifier.rsplit(".", 1)[-1] if short else (target if explicit else identifier)
    code = f"<code>{text}</code>"
    if identifier.startswith("keras_trt"):
        return f'<autoref identifier="{identifier}" optional>{code}</autoref>'
    return f"`{text}`"


def doctest_blocks(text):
    """Fence every run of ``>>>`` lines (with their output) as a ``pycon`` block."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        stripped = lines[i].lstrip()
        if stripped.startswith(">>>"):
            indent = lines[i][: len(lines[i]) - len(stripped)]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
                i += 1
            if out and out[-1].strip():
                out.append("")
            out += [f"{indent}```pycon", *(indent + b for b in block), f"{indent}```"]
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def to_markdown(text):
    return ROLE.sub(_role, doctest_blocks(text))


class DoctestsAndRoles(griffe.Extension):
    def on_instance(self, *, obj, **kwargs):  # noqa: D102
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
