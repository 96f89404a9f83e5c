"""Fixtures for the site tests: one build per session, a local server, headless chromium, page visits.

The modules that use the build are in xdist group "site" (`--dist loadgroup`), so one worker builds once.
"""
from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from coursekit import chromium
from sitekit import HTML, REPO, SITE, QuietHandler, html_pages, release_copies, visit


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """Build the site once per session (incremental: jupyter-cache and Sphinx reuse unchanged work)."""
    release = release_copies(tmp_path_factory.mktemp("release"))
    proc = subprocess.run([sys.executable, str(SITE / "build.py"), "--release", str(release), "--quiet"],
                          capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        pytest.fail(f"site build failed: {proc.stderr.strip()[-2000:]}")
    assert (HTML / "index.html").is_file()
    return HTML


@pytest.fixture(scope="session")
def server(built_site):
    """The built site over HTTP on 127.0.0.1 (a thread); yields the base URL."""
    handler = functools.partial(QuietHandler, directory=str(built_site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="session")
def page_records(built_site, server, browser) -> dict[str, dict]:
    """One desktop visit per content page: {relative path: record} (contexts closed)."""
    out = {}
    for path in html_pages(built_site):
        rel = path.relative_to(built_site).as_posix()
        rec = visit(browser, f"{server}/{rel}")
        rec.pop("page")
        rec.pop("context").close()
        out[rel] = rec
    assert out, "the site has no pages"
    return out
