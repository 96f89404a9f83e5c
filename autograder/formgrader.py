"""What nbgrader's formgrader needs from chainrule: offline math on its pages.

The formgrader (a Jupyter server extension of nbgrader) renders each submission with nbconvert's
HTMLExporter, whose MathJax comes from a CDN: offline, a grader sees raw TeX and nbgrader's own page
script stops at its MathJax call. Two pieces fix it, both set up by the course's files:

- course/nbgrader_config.py adds TEMPLATE_BASEDIR to HTMLExporter.extra_template_basedirs: its
  base/mathjax.html.j2 loads the MathJax 3 copy shipped in autograder/assets/mathjax;
- this module is a Jupyter server extension (enabled by `make setup`, which writes
  <venv>/etc/jupyter/jupyter_server_config.d/chainrule.json) that serves that copy, read-only, at
  <base_url>/chainrule/mathjax/.
"""
from __future__ import annotations

from pathlib import Path

TEMPLATE_BASEDIR = str(Path(__file__).resolve().parent / "templates" / "formgrader")
URL_PATH = "chainrule/mathjax/"
MODULE = "autograder.formgrader"   # not __name__: that is "__main__" when run with -m
EXTENSION_CONFIG = {"ServerApp": {"jpserver_extensions": {MODULE: True}}}


def _jupyter_server_extension_points():
    return [{"module": MODULE}]


def _load_jupyter_server_extension(serverapp) -> None:
    from jupyter_server.utils import url_path_join
    from tornado import web

    from autograder.html import MATHJAX_DIR

    web_app = serverapp.web_app
    pattern = url_path_join(web_app.settings.get("base_url", "/"), URL_PATH, "(.*)")
    web_app.add_handlers(".*$", [(pattern, web.StaticFileHandler, {"path": str(MATHJAX_DIR)})])
    serverapp.log.info("chainrule: MathJax for formgrader pages at %s", pattern)


def write_extension_config(prefix: str) -> Path:
    """Enable the extension for every Jupyter server of the environment at `prefix` (what a package's
    data files do): <prefix>/etc/jupyter/jupyter_server_config.d/chainrule.json."""
    import json

    path = Path(prefix) / "etc" / "jupyter" / "jupyter_server_config.d" / "chainrule.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(EXTENSION_CONFIG, indent=2) + "\n")
    return path


if __name__ == "__main__":  # `python -m autograder.formgrader`: enable it in this environment
    import sys

    print(f"formgrader MathJax extension enabled: {write_extension_config(sys.prefix)}")
