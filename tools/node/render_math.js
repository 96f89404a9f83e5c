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
const FRAGMENT = 'data-chainrule-fragment';
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
  const body = request.fragments.map((f, i) => `<div ${FRAGMENT}="${i}">${f}</div>`).join('');
  const doc = mathjax.document(`<!DOCTYPE html><html><head></head><body>${body}</body></html>`,
                               {InputJax: tex, OutputJax: chtml});
  doc.render();
  for (const item of doc.math) {
    // the lite serializer escapes only '"' in attribute values: escape '&' here so the value reads back
    adaptor.setAttribute(item.typesetRoot, 'data-tex', item.math.trim().replace(/&/g, '&amp;'));
    // a displayed formula wider than the page scrolls (the pages' CSS): keyboard users must reach it too
    if (item.display) adaptor.setAttribute(item.typesetRoot, 'tabindex', '0');
  }
  const html = new Array(request.fragments.length).fill('');
  for (const node of adaptor.childNodes(adaptor.body(doc.document))) {
    const index = adaptor.kind(node) === 'div' ? adaptor.getAttribute(node, FRAGMENT) : null;
    if (index !== null && index !== undefined) html[Number(index)] = adaptor.innerHTML(node);
  }
  return {html, css: adaptor.textContent(chtml.styleSheet(doc)), errors};
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
