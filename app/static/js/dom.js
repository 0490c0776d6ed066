// Small DOM and formatting helpers. Text from the server is only ever set as textContent.

const JAPANESE = /[\u3040-\u30ff\u3400-\u9fff]/;

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

export function basename(path) {
  const parts = String(path || "").split(/[\\/]/);
  return parts[parts.length - 1] || String(path || "");
}

export function pages(p) {
  if (p.page_start == null && p.page_end == null) return "";
  const start = p.page_start ?? p.page_end;
  const end = p.page_end ?? p.page_start;
  return start === end ? `p. ${start}` : `pp. ${start}–${end}`;
}

export function langOf(text) {
  return JAPANESE.test(text || "") ? "ja" : null;
}

export function formatDate(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
