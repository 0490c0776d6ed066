// The answer's text as DOM: the small part of Markdown gpt-oss uses, and citation buttons.

import { el, langOf } from "./dom.js";

function renderInline(parent, text, onCite) {
  // **bold**, `code` and citation marks; everything else is plain text.
  const pattern = /\*\*([^*]+)\*\*|`([^`]+)`|\[(\d+(?:\s*[,、]\s*\d+)*)\]/g;
  let last = 0;
  let match;
  while ((match = pattern.exec(text))) {
    if (match.index > last) parent.append(text.slice(last, match.index));
    if (match[1] !== undefined) parent.append(el("strong", { text: match[1] }));
    else if (match[2] !== undefined) parent.append(el("code", { text: match[2] }));
    else {
      const numbers = match[3].split(/\s*[,、]\s*/).map(Number);
      for (const n of numbers) parent.append(onCite(n));
    }
    last = pattern.lastIndex;
  }
  if (last < text.length) parent.append(text.slice(last));
}

export function renderAnswer(container, text, onCite) {
  // A small part of Markdown, the part gpt-oss uses in answers: paragraphs, lists, headings.
  container.replaceChildren();
  const lang = langOf(text);
  if (lang) container.setAttribute("lang", lang);
  else container.removeAttribute("lang");
  let list = null;
  let paragraph = null;
  for (const raw of text.split("\n")) {
    const lineText = raw.trimEnd();
    const bullet = /^\s*[-*•]\s+(.*)$/.exec(lineText);
    const numbered = /^\s*(\d+)[.)]\s+(.*)$/.exec(lineText);
    const heading = /^\s*#{1,6}\s+(.*)$/.exec(lineText);
    if (!lineText.trim()) {
      list = null;
      paragraph = null;
    } else if (bullet || numbered) {
      const kind = bullet ? "ul" : "ol";
      if (!list || list.tagName.toLowerCase() !== kind) {
        list = el(kind);
        if (numbered) list.setAttribute("start", numbered[1]);
        container.append(list);
      }
      const item = el("li");
      renderInline(item, bullet ? bullet[1] : numbered[2], onCite);
      list.append(item);
      paragraph = null;
    } else if (heading) {
      const h = el("p", { class: "answer-heading" });
      renderInline(h, heading[1], onCite);
      container.append(h);
      list = null;
      paragraph = null;
    } else {
      list = null;
      if (paragraph) paragraph.append(el("br"));
      else {
        paragraph = el("p");
        container.append(paragraph);
      }
      renderInline(paragraph, lineText, onCite);
    }
  }
}
