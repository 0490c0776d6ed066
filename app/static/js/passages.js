// A passage: its label and check badge, and the dialog that shows it whole.

import { $, basename, el, langOf, pages } from "./dom.js";

let opener = null;

export function verifiedBadge(passage) {
  const v = passage.verified;
  const [cls, text] =
    v === true ? ["ok", "verified"] : v === false ? ["warn", "not verified"] : ["muted", "not checked"];
  return el("span", { class: `badge ${cls}`, title: passage.verification || null, text });
}

export function passageLabel(p) {
  const where = [p.section, p.clause, pages(p)].filter(Boolean).join(" · ");
  return where ? `${basename(p.source)} — ${where}` : basename(p.source);
}

export function openPassage(passage, n, from) {
  const dialog = $("passage-dialog");
  opener = from || document.activeElement;
  const meta = $("passage-meta");
  meta.replaceChildren();
  if (!passage) {
    $("passage-title").textContent = `[${n}]`;
    $("passage-text").textContent = "This passage is not available.";
    dialog.showModal();
    return;
  }
  $("passage-title").textContent = `[${passage.n}] ${basename(passage.source)}`;
  const rows = [
    ["File", basename(passage.source)],
    ["Title", passage.title],
    ["Section", passage.section],
    ["Clause", passage.clause],
    ["Page", pages(passage).replace(/^pp?\. /, "")],
    ["Version", [passage.version_label, passage.effective_date && `effective ${passage.effective_date}`].filter(Boolean).join(", ")],
    ["Role", passage.role === "reference" ? `referred to by [${passage.via}]`
      : passage.role === "definition" ? `definition of a term in [${passage.via}]` : ""],
  ];
  for (const [name, value] of rows) {
    if (!value) continue;
    meta.append(el("dt", { text: name }), el("dd", { lang: langOf(value), text: value }));
  }
  const check = el("dd", {}, verifiedBadge(passage));
  if (passage.verification) check.append(" ", el("span", { class: "hint", text: passage.verification }));
  meta.append(el("dt", { text: "Checked" }), check);
  const text = $("passage-text");
  text.textContent = passage.text || "";
  const lang = langOf(passage.text);
  if (lang) text.setAttribute("lang", lang);
  else text.removeAttribute("lang");
  dialog.showModal();
  $("passage-close").focus();
}

export function passageClosed() {
  if (opener && document.contains(opener)) opener.focus();
  opener = null;
}
