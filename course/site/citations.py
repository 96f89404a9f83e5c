"""Source citations on the site: a heading's "(source 003)" becomes a line under the heading, and the texts a
notebook cites are listed in a References section at its end (as a textbook cites, never in headings).

The notebooks cite four texts by number (notebook 02 introduces them); SOURCES is their bibliography.
"""
from __future__ import annotations

import re

SOURCES = {
    "000": '"The Chain Rule: Revisited", a blog post on the chain rule of differential calculus and its role in '
           "machine learning.",
    "001": 'T. Parr and J. Howard, "The Matrix Calculus You Need For Deep Learning", explained.ai (2018).',
    "002": 'Notes on the chain-rule sections of Parr and Howard, "The Matrix Calculus You Need For Deep Learning".',
    "003": '"Multivariable Chain Rule", an interactive calculus tutorial page.',
}

_NUMBERS = r"\d{3}(?:(?:\s*,\s*(?:and\s+)?|\s+and\s+)\d{3})*"
# "(source 003)" / "(sources 003 and 000)" at the end of a heading's text
_HEADING_CITE = re.compile(rf"^(#{{1,6}}[ \t]+.*?)[ \t]*\((sources?)[ \t]+({_NUMBERS})\)[ \t]*$", re.MULTILINE)
# places a text cites a source: "source 001", "Sources: 003 and 000", "**002**", "(001)"
_MENTION = re.compile(rf"\bsources?:?\s+({_NUMBERS})|\*\*(\d{{3}})\*\*|\((\d{{3}})\)", re.IGNORECASE)


def label(doc: str) -> str:
    """The MyST label of a page's References section (labels are global in Sphinx: one per page)."""
    return f"references-{re.sub(r'[^a-z0-9]+', '-', doc.lower()).strip('-')}"


def move_heading_citations(markdown: str, doc: str) -> str:
    """'### Worked example 7.1 (source 003)' -> the heading alone, then a line citing 003 with a link to the
    page's References section."""
    def repl(m: re.Match) -> str:
        nums = re.findall(r"\d{3}", m.group(3))
        what = "Sources" if len(nums) > 1 else "Source"
        return (f"{m.group(1)}\n\n*{what}: {' and '.join(nums)} "
                f"(see {{ref}}`References <{label(doc)}>`).*")
    return _HEADING_CITE.sub(repl, markdown)


def cited(markdown: str) -> set[str]:
    """Numbers of the SOURCES a text mentions."""
    found = set()
    for m in _MENTION.finditer(markdown):
        found.update(re.findall(r"\d{3}", m.group(1)) if m.group(1) else [m.group(2) or m.group(3)])
    return found & SOURCES.keys()


def references_markdown(numbers: set[str], doc: str) -> str:
    """The References section listing these sources, or '' if none."""
    if not numbers:
        return ""
    items = "\n".join(f"- **{n}**: {SOURCES[n]}" for n in sorted(numbers))
    return f"({label(doc)})=\n## References\n\nThe texts this notebook cites by number:\n\n{items}\n"
