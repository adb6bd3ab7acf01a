"""Server-rendered pages: Jinja2 templates (autoescaped) and static assets served at /static/."""

from __future__ import annotations

from pathlib import Path

import jinja2
from aiohttp import web

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
STATIC_PREFIX = "/static"


def make_environment() -> jinja2.Environment:
    """A template environment that escapes every value; a missing variable is an error, not blank text."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def setup_static(app: web.Application) -> None:
    """Serve ``STATIC_DIR`` at /static/ (once, whichever page module asks first)."""
    for resource in app.router.resources():
        if isinstance(resource, web.StaticResource) and resource.canonical == STATIC_PREFIX:
            return
    app.router.add_static(STATIC_PREFIX, STATIC_DIR, append_version=False)
