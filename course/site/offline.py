"""Sphinx extension: keep the site free of requests to other hosts.

sphinx-thebe (loaded by every Jupyter Book) injects `const THEBE_JS_URL = "https://unpkg.com/..."` into
each page, twice on incremental builds (a console error), for a live-code button this site does not
offer. This drops its per-build script injection; its config values stay registered for the theme.
"""
from __future__ import annotations


def _drop_thebe_scripts(app) -> None:
    for event in ("env-before-read-docs",):
        listeners = app.events.listeners.get(event, [])
        app.events.listeners[event] = [
            lst for lst in listeners if getattr(lst.handler, "__name__", "") != "init_thebe_core"
        ]


def setup(app):
    app.connect("builder-inited", _drop_thebe_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
