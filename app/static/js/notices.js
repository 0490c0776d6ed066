// The notice line under the header, and the API key field's error state.

import { $ } from "./dom.js";
import { msg, setText } from "./i18n.js";

// message: the page's own (a Message) or the server's text.
export function showNotice(message) {
  const notice = $("notice");
  setText(notice, message);
  notice.hidden = false;
}

export function clearNotice() {
  $("notice").hidden = true;
  setText($("notice"), "");
}

export function showWelcome() {
  $("welcome").hidden = false;
  $("api-key").focus();
}

export function hideWelcome() {
  $("welcome").hidden = true;
}

export function markKeyInvalid() {
  const input = $("api-key");
  input.setAttribute("aria-invalid", "true");
  setText($("key-status"), msg("key.invalid"));
  $("key-status").classList.add("error-text");
}
