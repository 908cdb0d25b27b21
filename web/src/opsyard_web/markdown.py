"""Markdown that people type into the portal, rendered so it cannot run script.

markdown-it-py with raw HTML switched off escapes every tag a user writes, and its link
validation drops ``javascript:``, ``vbscript:``, ``file:`` and non-image ``data:`` URLs,
so neither a ``<script>`` nor a crafted link survives. Links open with ``rel="noopener
nofollow"`` because they point wherever the author chose.
"""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

_renderer = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_renderer.enable("table")
_renderer.enable("strikethrough")


def _open_link(renderer: Any, tokens: list[Token], index: int, options: Any, env: Any) -> str:
    # Bound as a method of the renderer, hence `renderer` first.
    tokens[index].attrSet("rel", "noopener nofollow")
    return str(renderer.renderToken(tokens, index, options, env))


_renderer.add_render_rule("link_open", _open_link)


def render_markdown(text: str | None) -> Markup:
    """HTML for `text`, safe to insert into a page as is."""
    if not text:
        return Markup("")
    return Markup(_renderer.render(text))  # noqa: S704  (raw HTML is disabled above)
