// The API key, kept in this browser's localStorage.

import { apiKey, KEY_STORAGE } from "./api.js";
import { loadCollections } from "./collections.js";
import { $ } from "./dom.js";
import { restore } from "./history.js";
import { msg, setText } from "./i18n.js";
import { clearNotice } from "./notices.js";

export function showKeyState() {
  const input = $("api-key");
  input.removeAttribute("aria-invalid");
  $("key-status").classList.remove("error-text");
  setText($("key-status"), apiKey() ? msg("key.saved") : msg("key.none"));
}

export function saveKey() {
  const key = $("api-key").value.trim();
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
  showKeyState();
  clearNotice();
  loadCollections();
  restore(); // this key's conversations, none of the previous key's
}
