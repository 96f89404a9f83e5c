#!/usr/bin/env node
// Typesets TeX inside HTML fragments with MathJax 3 (CHTML output, assistive MathML), for pages that must
// show their math with no math JavaScript. Driven by autograder/mathrender.py: one process per build,
// one JSON request per line on stdin, one JSON answer per line on stdout.
//
// request:  {"fragments": ["<span class=\"math\">\\(x^2\\)</span>", ...], "font_url": "../_static/...",
//            "inline": [["\\(", "\\)"]], "display": [["\\[", "\\]"], ["$$", "$$"]]}
// answer:   {"html": [fragment with each formula replaced by an <mjx-container>, ...],
//            "css": "the CHTML rules these fragments need (fonts from font_url)", "errors": ["TeX error", ...]}
//           or {"error": "message"} when the request itself failed.
// Each request gets a fresh TeX and CHTML output jax, so the CSS covers exactly that request's formulas
// and the answer depends on nothing but the request. Each container carries its TeX in data-tex (for
// copying) and MathML in <mjx-assistive-mml> (for screen readers). Input is trusted author text (course
// pages, prompts); the ui/safe filter still drops \href to javascript: and similar.
'use strict';

const readline = require('readline');
const {mathjax} = require('mathjax-full/js/mathjax.js');
const {TeX} = require('mathjax-full/js/input/tex.js');
const {CHTML} = require('mathjax-full/js/output/chtml.js');
const {liteAdaptor} = require('mathjax-full/js/adaptors/liteAdaptor.js');
const {RegisterHTMLHandler} = require('mathjax-full/js/handlers/html.js');
const {AssistiveMmlHandler} = require('mathjax-full/js/a11y/assistive-mml.js');
const {SafeHandler} = require('mathjax-full/js/ui/safe/SafeHandler.js');
const {AllPackages} = require('mathjax-full/js/input/tex/AllPackages.js');

// noerrors/noundefined would hide a TeX error as red text: errors go to formatError and are reported instead.
const PACKAGES = AllPackages.filter((name) => !['bussproofs', 'noerrors', 'noundefined'].includes(name));
// Offscreen formulas cost the page nothing until they come near the screen (content-visibility: auto,
// with each formula's own size from MathJax, so nothing moves when it is laid out). Containment clips to
// the padding box: the padding, cancelled by the margin, leaves room for glyphs that overhang their box.
// An inline formula's element is an inline box again (a flex item, as some themes make it, would lose
// the vertical-align that puts the contained box on the baseline).
const PAD = 0.3;
const SIZE_CSS = `
mjx-container[jax="CHTML"][data-sized]:not([display="true"]) {
  display: inline-block; content-visibility: auto; padding: ${PAD}em 0.2em; margin: -${PAD}em -0.2em;
}
mjx-container[jax="CHTML"][data-sized][display="true"] { content-visibility: auto; }
span.math { display: inline; }
`;
const adaptor = liteAdaptor({fontSize: 16});
SafeHandler(AssistiveMmlHandler(RegisterHTMLHandler(adaptor)));

function typeset(request) {
  const errors = [];
  const tex = new TeX({
    packages: PACKAGES,
    inlineMath: request.inline || [['\\(', '\\)']],
    displayMath: request.display || [['\\[', '\\]'], ['$$', '$$']],
    formatError: (jax, err) => {
      errors.push(err.message);
      return jax.formatError(err);
    },
  });
  const chtml = new CHTML({fontURL: request.font_url, matchFontHeight: false});
  // One small document per fragment, one output jax for all, whose CSS then covers every fragment (in a
  // single shared document an entity such as &gt; in one formula shifted where later formulas were found).
  let doc = null;
  const html = request.fragments.map((fragment) => {
    doc = mathjax.document(`<!DOCTYPE html><html><head></head><body>${fragment}</body></html>`,
                           {InputJax: tex, OutputJax: chtml});
    doc.render();
    const found = Array.from(doc.math).length;
    for (const item of doc.math) finish(item, hasText(item) ? null : chtml.getBBox(item, doc));
    const out = adaptor.innerHTML(adaptor.body(doc.document));
    if (out.split('<mjx-container').length - 1 >= found) return out;
    // measuring lost a formula's output: typeset the fragment again and leave it unmeasured
    doc = mathjax.document(`<!DOCTYPE html><html><head></head><body>${fragment}</body></html>`,
                           {InputJax: tex, OutputJax: chtml});
    doc.render();
    for (const item of doc.math) finish(item, null);
    return adaptor.innerHTML(adaptor.body(doc.document));
  });
  return {html, css: (doc ? adaptor.textContent(chtml.styleSheet(doc)) : '') + SIZE_CSS, errors};
}

// Measuring a formula that holds text (\text{...}) measures that text in the document, which dropped the
// formula's output: such formulas are not measured, and so are laid out like any inline box.
function hasText(item) {
  let found = false;
  item.root.walkTree((node) => { found = found || node.isKind('mtext') || node.isKind('ms'); });
  return found;
}

function finish(item, box) {
  // the lite serializer escapes only '"' in attribute values: escape '&' here so the value reads back
  adaptor.setAttribute(item.typesetRoot, 'data-tex', item.math.trim().replace(/&/g, '&amp;'));
  // a displayed formula wider than the page scrolls (the pages' CSS): keyboard users must reach it too
  if (item.display) adaptor.setAttribute(item.typesetRoot, 'tabindex', '0');
  // its size, so that the browser can lay out the page without laying out a formula it has not scrolled
  // to (SIZE_CSS); a contained box has no baseline of its own: its bottom, the formula's depth below it
  if (!box) return;
  const {h, d, w} = box;
  adaptor.setAttribute(item.typesetRoot, 'data-sized', '');
  const em = (x) => `${Math.max(x, 0).toFixed(3)}em`;
  const size = item.display ? `contain-intrinsic-block-size: ${em(h + d)}`
    : `contain-intrinsic-size: ${em(w)} ${em(h + d)}; vertical-align: -${em(d)}`;
  const style = adaptor.getAttribute(item.typesetRoot, 'style') || '';
  adaptor.setAttribute(item.typesetRoot, 'style', `${style} ${size};`.trim());
}

const lines = readline.createInterface({input: process.stdin, terminal: false});
lines.on('line', (line) => {
  if (!line.trim()) return;
  let answer;
  try {
    answer = typeset(JSON.parse(line));
  } catch (err) {
    answer = {error: String(err && err.stack || err)};
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
});
