// Small DOM and formatting helpers. Text from the server is only ever set as textContent.

import { Message, msg, setText } from "./i18n.js";

const JAPANESE = /[\u3040-\u30ff\u3400-\u9fff]/;

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text" || value instanceof Message) setText(node, value, name);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    // A message among the children keeps its own node, to be re-worded on a switch.
    node.append(child instanceof Message ? el("span", { text: child }) : child);
  }
  return node;
}

// Parts (text or messages) with " · " between them, as children for el().
export function joined(parts) {
  return parts.flatMap((part, i) => (i ? [" · ", part] : [part]));
}

export function basename(path) {
  const parts = String(path || "").split(/[\\/]/);
  return parts[parts.length - 1] || String(path || "");
}

// "3" or "3–5": the passage's pages, plain.
export function pageRange(p) {
  if (p.page_start == null && p.page_end == null) return "";
  const start = p.page_start ?? p.page_end;
  const end = p.page_end ?? p.page_start;
  return start === end ? String(start) : `${start}–${end}`;
}

// "p. 3" or "pp. 3–5" (a message), or "" without pages.
export function pages(p) {
  const range = pageRange(p);
  if (!range) return "";
  return range.includes("–") ? msg("passage.pages", { range }) : msg("passage.page", { range });
}

export function langOf(text) {
  return JAPANESE.test(text || "") ? "ja" : null;
}

// A date as a Date, which messages write the current language's way; unreadable ones as sent.
export function asDate(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
