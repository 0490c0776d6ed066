// A passage: its label and check badge, and the dialog that shows it whole.

import { $, basename, el, langOf, pageRange, pages } from "./dom.js";
import { msg, setText } from "./i18n.js";

let opener = null;

export function verifiedBadge(passage) {
  const v = passage.verified;
  const [cls, words] = v === true ? ["ok", msg("passage.verified")]
    : v === false ? ["warn", msg("passage.not_verified")] : ["muted", msg("passage.not_checked")];
  return el("span", { class: `badge ${cls}`, title: passage.verification || null, text: words });
}

// "file — section · clause · p. 3", as a message (its pages are words of the page's language).
export function passageLabel(p) {
  const where = [p.section, p.clause, pages(p)].filter(Boolean);
  return where.length ? msg("passage.label", { file: basename(p.source), where }) : basename(p.source);
}

// A version's label and date: "rev. 3, effective 2024-04-01", either alone, or "".
export function versionText(label, date) {
  if (label && date) return msg("version.labelled_effective", { label, date });
  if (date) return msg("version.effective", { date });
  return label || "";
}

function roleText(p) {
  if (p.role === "reference") return msg("passage.role_reference", { via: p.via });
  if (p.role === "definition") return msg("passage.role_definition", { via: p.via });
  return "";
}

export function openPassage(passage, n, from) {
  const dialog = $("passage-dialog");
  opener = from || document.activeElement;
  const meta = $("passage-meta");
  meta.replaceChildren();
  if (!passage) {
    $("passage-title").textContent = `[${n}]`;
    setText($("passage-text"), msg("passage.unavailable"));
    dialog.showModal();
    return;
  }
  $("passage-title").textContent = `[${passage.n}] ${basename(passage.source)}`;
  const rows = [
    [msg("passage.file"), basename(passage.source)],
    [msg("passage.title"), passage.title],
    [msg("passage.section"), passage.section],
    [msg("passage.clause"), passage.clause],
    [msg("passage.page_label"), pageRange(passage)],
    [msg("passage.version"), versionText(passage.version_label, passage.effective_date)],
    [msg("passage.role"), roleText(passage)],
  ];
  for (const [name, value] of rows) {
    if (!value) continue;
    meta.append(el("dt", { text: name }), el("dd", { lang: langOf(String(value)), text: value }));
  }
  const check = el("dd", {}, verifiedBadge(passage));
  if (passage.verification) check.append(" ", el("span", { class: "hint", text: passage.verification }));
  meta.append(el("dt", { text: msg("passage.checked") }), check);
  const text = $("passage-text");
  setText(text, passage.text || "");
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
