// The page's own words in English or Japanese. t(key, params) looks a message up in the
// chosen language's catalogue (messages-en.js, messages-ja.js) and fills its {placeholders};
// msg(key, params) is the same message kept on the node it is shown in, so a switch of language
// re-words the whole page in place, without a reload. Text from the server is never looked up:
// it shows as sent.

import en from "./messages-en.js";
import ja from "./messages-ja.js";

const CATALOGUES = { en, ja };
const LANGUAGE_STORAGE = "kura.language";
// Where a node keeps the key of its translated text or attribute.
const DATA = {
  text: "data-i18n",
  placeholder: "data-i18n-placeholder",
  "aria-label": "data-i18n-aria-label",
  title: "data-i18n-title",
};
const bound = new WeakMap(); // node -> {text or attribute name: params of its message}
let language = chosen();

// The saved choice, else the first of the browser's languages the page speaks, else English.
function chosen() {
  const saved = localStorage.getItem(LANGUAGE_STORAGE);
  if (Object.hasOwn(CATALOGUES, saved ?? "")) return saved;
  const wanted = navigator.languages?.length ? navigator.languages : [navigator.language || ""];
  const bases = wanted.map((tag) => tag.toLowerCase().split("-")[0]);
  return bases.find((base) => Object.hasOwn(CATALOGUES, base)) || "en";
}

// A message that knows its key: shown through setText (or el()), it follows the language.
export class Message {
  constructor(key, params = {}) {
    this.key = key;
    this.params = params;
  }

  toString() {
    return t(this.key, this.params);
  }

  toJSON() {
    return { key: this.key, params: this.params };
  }
}

export const msg = (key, params = {}) => new Message(key, params);

// A message kept as JSON (a conversation in the browser's store) back as one; text stays text.
export function revive(value) {
  if (value && typeof value === "object" && typeof value.key === "string") {
    return new Message(value.key, value.params || {});
  }
  return value == null ? "" : value;
}

function format(value) {
  if (typeof value === "number") return new Intl.NumberFormat(language).format(value);
  if (Array.isArray(value)) return value.map(format).join(" · ");
  if (value instanceof Date) {
    return new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short" }).format(value);
  }
  return String(value ?? ""); // a string, or a Message (its toString)
}

// The message for key in the current language; {count} picks the plural form where a message
// has them ({"one": ..., "other": ...}), and numbers and dates are written the language's way.
export function t(key, params = {}) {
  let text = CATALOGUES[language][key] ?? CATALOGUES.en[key] ?? key;
  if (typeof text === "object") {
    text = text[new Intl.PluralRules(language).select(params.count ?? 0)] ?? text.other;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name) => (Object.hasOwn(params, name) ? format(params[name]) : whole));
}

function write(node, what, text) {
  if (what === "text") node.textContent = text;
  else node.setAttribute(what, text);
}

// Sets a node's text (what = "text") or an attribute to a Message, which it keeps for the next
// switch of language, or to text as given (the server's), which it does not translate.
export function setText(node, value, what = "text") {
  const params = bound.get(node) || {};
  if (value instanceof Message) {
    node.setAttribute(DATA[what], value.key);
    params[what] = value.params;
    bound.set(node, params);
  } else if (DATA[what]) {
    node.removeAttribute(DATA[what]);
  }
  write(node, what, String(value ?? ""));
}

// Words every node that holds a message (index.html's data-i18n* and those set by setText) in
// the current language, and marks the language on the page and the switch.
export function applyLanguage() {
  document.documentElement.lang = language;
  for (const [what, data] of Object.entries(DATA)) {
    for (const node of document.querySelectorAll(`[${data}]`)) {
      write(node, what, t(node.getAttribute(data), bound.get(node)?.[what]));
    }
  }
  // The line that tells a reader of the other language that the page speaks it too.
  for (const node of document.querySelectorAll("[data-i18n-other-language]")) {
    node.lang = language === "ja" ? "en" : "ja";
  }
  for (const button of document.querySelectorAll("[data-language]")) {
    button.setAttribute("aria-pressed", String(button.dataset.language === language));
  }
}

export function setLanguage(next) {
  language = Object.hasOwn(CATALOGUES, next) ? next : "en";
  localStorage.setItem(LANGUAGE_STORAGE, language);
  applyLanguage();
}
