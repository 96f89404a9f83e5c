// Copying a selection that holds typeset formulas puts their TeX on the clipboard ($...$ inline,
// $$...$$ displayed) instead of the glyphs' text. Formulas are typeset when the page is built
// (autograder/mathrender.py); each <mjx-container> keeps its TeX in data-tex. Not needed to show math.
(function () {
  'use strict';
  function whole(node) {
    var el = node && (node.nodeType === 1 ? node : node.parentElement);
    return el && el.closest ? el.closest('mjx-container[data-tex]') : null;
  }
  document.addEventListener('copy', function (event) {
    var sel = window.getSelection();
    if (!sel || sel.rangeCount === 0 || !event.clipboardData) return;
    var range = sel.getRangeAt(0).cloneRange();
    var start = whole(range.startContainer), end = whole(range.endContainer);
    if (start) range.setStartBefore(start);
    if (end) range.setEndAfter(end);
    var box = document.createElement('div');
    box.appendChild(range.cloneContents());
    var found = box.querySelectorAll('mjx-container[data-tex]');
    if (!found.length) return;
    found.forEach(function (m) {
      var d = m.getAttribute('display') === 'true' ? '$$' : '$';
      m.replaceWith(document.createTextNode(d + m.getAttribute('data-tex') + d));
    });
    event.clipboardData.setData('text/plain', box.textContent);
    event.preventDefault();
  });
})();
