// The answer's text as DOM: CommonMark and tables by markdown-it, sanitized by DOMPurify, with
// the citation marks [n] turned into buttons that open the passage.

import markdownit from "../vendor/markdown-it.js";
import DOMPurify from "../vendor/purify.js";
import { langOf } from "./dom.js";

// html: false renders raw HTML in an answer as text; DOMPurify is the second wall.
const md = markdownit({ html: false, linkify: false, typographer: false });

const CITATION = /\[(\d+(?:\s*[,、]\s*\d+)*)\]/g;
// Citation marks inside code or a link stay text.
const NO_CITES = new Set(["CODE", "PRE", "A"]);

// Links open in a new tab and tell the target nothing about kura; images are dropped (an
// answer must not make the browser fetch anything, and the CSP would block it anyway).
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});
const PURIFY = {
  RETURN_DOM_FRAGMENT: true,
  FORBID_TAGS: ["img", "style", "form", "input", "button", "textarea", "select", "iframe"],
  FORBID_ATTR: ["style"],
};

function citeMarks(root, onCite) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const found = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.nodeValue.includes("[")) continue;
    let parent = node.parentNode;
    let inside = false;
    for (; parent && parent !== root; parent = parent.parentNode) {
      if (NO_CITES.has(parent.nodeName)) inside = true;
    }
    if (!inside) found.push(node);
  }
  for (const node of found) {
    const text = node.nodeValue;
    const parts = [];
    let last = 0;
    for (const match of text.matchAll(CITATION)) {
      if (match.index > last) parts.push(text.slice(last, match.index));
      for (const n of match[1].split(/\s*[,、]\s*/).map(Number)) parts.push(onCite(n));
      last = match.index + match[0].length;
    }
    if (!parts.length) continue;
    if (last < text.length) parts.push(text.slice(last));
    node.replaceWith(...parts);
  }
}

export function toFragment(text, onCite) {
  // Tables scroll on their own on a narrow screen instead of widening the page.
  const fragment = DOMPurify.sanitize(md.render(text || ""), PURIFY);
  for (const table of fragment.querySelectorAll("table")) {
    const wrap = document.createElement("div");
    wrap.className = "answer-table";
    table.replaceWith(wrap);
    wrap.append(table);
  }
  citeMarks(fragment, onCite);
  return fragment;
}

export function renderAnswer(container, text, onCite) {
  container.replaceChildren(toFragment(text, onCite));
  const lang = langOf(text);
  if (lang) container.setAttribute("lang", lang);
  else container.removeAttribute("lang");
}
