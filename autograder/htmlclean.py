"""Student markdown and outputs made safe to render in the instructor's browser (allow-list, bleach).

The threat: nbgrader's formgrader shows the autograded copy of a submission inside the instructor's
authenticated Jupyter origin, whose API can open terminals. It renders markdown cells with a renderer
that passes raw HTML through (`<img src=x onerror=...>`), markdown links as written
(`[x](javascript:...)`), and outputs by mimetype (text/html as is, application/javascript run, image data
and metadata pasted into attributes). Whatever a student controls is therefore rebuilt here from an
allow-list before it is written to autograded/:

- `markdown(source)`: rendered once with nbconvert's own Markdown renderer (the formgrader's), cleaned by
  bleach (TAGS, ATTRIBUTES, PROTOCOLS; anything else is escaped and shown as text, event handlers and
  other attributes dropped), and kept as one HTML block on a single line, which the renderer passes
  through unchanged (checked; if it would not, the student's text is shown escaped in a <pre>). Math
  stays text for MathJax, whose `ui/safe` extension filters what TeX can do.
- `outputs(outputs)`: streams and errors as text (the page escapes them); display data keeps text/plain,
  text/latex, PNG/JPEG/GIF images whose data is base64 (nothing else can reach the <img> attribute), and
  text/html / text/markdown sanitized as above; every other mimetype (JavaScript, SVG, widgets) and all
  output metadata except numeric image sizes is dropped. Text is cut at MAX_TEXT characters per output.
- `attachments(att)`: only PNG/JPEG/GIF images with base64 data (used to render a markdown cell; the
  rendered block shows images by their alt text).
"""
from __future__ import annotations

import html
import re

TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
})
ATTRIBUTES = {
    "a": ["href", "title"],
    "abbr": ["title"],
    "img": ["src", "alt", "title", "width", "height"],
    "ol": ["start"],
    "td": ["colspan", "rowspan"],
    "th": ["colspan", "rowspan"],
}
PROTOCOLS = frozenset({"http", "https", "mailto"})
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")
MAX_TEXT = 20_000
WRAPPER = '<div class="chainrule-student">'
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")


def _render(source: str, attachments: dict | None = None) -> str:
    """Markdown to HTML by nbconvert's renderer (the formgrader's); `attachment:` images become data URIs
    (and a missing attachment raises, as it would in nbconvert)."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    renderer = IPythonRenderer(escape=False, attachments=attachments or {}, exclude_anchor_links=True)
    return MarkdownWithMath(renderer=renderer).render(source)


def _passes_through(block: str) -> bool:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(block).strip() == block


def _allowed(tag: str, name: str, value: str) -> bool:
    # An image loads by itself: no source at all (a URL would be a GET with the instructor's cookies, or
    # a tracking pixel on a student's server); its alt text is shown.
    return name in ATTRIBUTES.get(tag, ()) and (tag, name) != ("img", "src")


def sanitize_html(fragment: str) -> str:
    """An HTML fragment with only allowed tags, attributes and URL schemes (the rest escaped or dropped)."""
    import bleach

    return bleach.clean(fragment, tags=TAGS, attributes=_allowed, protocols=PROTOCOLS, strip=False,
                        strip_comments=True)


def _one_block(inner: str) -> str:
    # LF as a character reference is the same to an HTML parser (text, <pre>, attribute values) and
    # keeps the whole block on one line: a Markdown HTML block ends at the first blank line.
    return WRAPPER + inner.strip().replace("\r", "").replace("\n", "&#10;") + "</div>"


def markdown(source: str, attachments: dict | None = None) -> str:
    """Student Markdown as a single-line HTML block that renders like the original, minus anything
    executable (see the module docstring). Images show their alt text (no URL is loaded). Markdown the
    renderer refuses (a missing attachment) is shown as the student's text in a <pre>."""
    if not source.strip():
        return source
    try:
        block = _one_block(sanitize_html(_render(source, attachments)))
    except Exception:  # noqa: BLE001  (whatever the student wrote, the copy is still written)
        block = None
    if block is None or not _passes_through(block):
        block = _one_block(f"<pre>{html.escape(source, quote=False)}</pre>")
    return block


def _text(value, limit: int = MAX_TEXT) -> str:
    if isinstance(value, list):
        value = "".join(v for v in value if isinstance(v, str))
    if not isinstance(value, str):
        return ""
    return value if len(value) <= limit else value[:limit] + f"\n... ({len(value) - limit} more characters)"


def _image(data) -> str | None:
    data = _text(data, 4 * 2**20)
    return data if data and _BASE64.fullmatch(data) else None


def _data(data: dict) -> tuple[dict, dict]:
    out, meta = {}, {}
    if not isinstance(data, dict):
        return out, meta
    for key in ("text/plain", "text/latex"):
        if key in data and _text(data[key]):
            out[key] = _text(data[key])
    for key in IMAGE_TYPES:
        image = _image(data.get(key)) if key in data else None
        if image:
            out[key] = image
    if "text/html" in data and _text(data["text/html"]):
        out["text/html"] = sanitize_html(_text(data["text/html"]))
    if "text/markdown" in data and _text(data["text/markdown"]):
        out["text/markdown"] = markdown(_text(data["text/markdown"]))
    return out, meta


def _image_sizes(metadata, data: dict) -> dict:
    meta = {}
    if not isinstance(metadata, dict):
        return meta
    for key in IMAGE_TYPES:
        sizes = metadata.get(key)
        if key in data and isinstance(sizes, dict):
            kept = {k: v for k, v in sizes.items() if k in ("width", "height")
                    and isinstance(v, int) and not isinstance(v, bool) and 0 < v < 100_000}
            if kept:
                meta[key] = kept
    return meta


def outputs(outputs) -> list[dict]:
    """The outputs of a student's code cell rebuilt from an allow-list (see the module docstring)."""
    import nbformat

    kept = []
    for out in outputs if isinstance(outputs, list) else []:
        kind = out.get("output_type") if isinstance(out, dict) else None
        if kind == "stream" and out.get("name") in ("stdout", "stderr"):
            kept.append(nbformat.v4.new_output("stream", name=out["name"], text=_text(out.get("text"))))
        elif kind == "error":
            tb = out.get("traceback")
            kept.append(nbformat.v4.new_output(
                "error", ename=_text(out.get("ename"), 200), evalue=_text(out.get("evalue"), 2000),
                traceback=[_text(t) for t in tb[:200] if isinstance(t, str)] if isinstance(tb, list) else []))
        elif kind in ("display_data", "execute_result"):
            data, _ = _data(out.get("data"))
            if not data:
                continue
            new = nbformat.v4.new_output(kind, data=data, metadata=_image_sizes(out.get("metadata"), data))
            if kind == "execute_result":
                new["execution_count"] = None
            kept.append(new)
    return kept


def attachments(att) -> dict:
    """A markdown cell's attachments reduced to base64 PNG/JPEG/GIF images under plain names."""
    kept = {}
    if not isinstance(att, dict):
        return kept
    for name, bundle in att.items():
        if not (isinstance(name, str) and re.fullmatch(r"[\w.\- ]{1,200}", name) and isinstance(bundle, dict)):
            continue
        images = {k: v for k in IMAGE_TYPES if k in bundle and (v := _image(bundle[k]))}
        if images:
            kept[name] = images
    return kept
