"""Messages from templates: a subject, a text part and an HTML part per message.

Each message is `templates/<name>.txt` and `templates/<name>.html`; the text template sets the
subject (`{% set subject %}...{% endset %}`). HTML is autoescaped; the text part is not (it is
plain text, never shown as markup).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,  # a missing value fails the job, not a blank in the message
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def template_names() -> frozenset[str]:
    """Every message there is a template pair for."""
    return frozenset(path.stem for path in TEMPLATES.glob("*.txt"))


def render(name: str, context: dict[str, Any]) -> Rendered:
    environment = _environment()
    text = environment.get_template(f"{name}.txt").make_module(context)
    html = environment.get_template(f"{name}.html").render(context)
    subject = " ".join(str(getattr(text, "subject", "")).split())  # one line, never a header break
    return Rendered(subject=subject, text=str(text).strip() + "\n", html=html)
