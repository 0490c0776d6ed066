// The notice line under the header, and the API key field's error state.

import { $ } from "./dom.js";

export function showNotice(message) {
  const notice = $("notice");
  notice.textContent = message;
  notice.hidden = false;
}

export function clearNotice() {
  $("notice").hidden = true;
  $("notice").textContent = "";
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
  $("key-status").textContent = "Enter a valid API key.";
  $("key-status").classList.add("error-text");
}
