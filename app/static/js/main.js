// kura's web page: ask questions (answers stream as server-sent events), read cited passages,
// upload documents and follow their indexing. Plain DOM code in ES modules, no framework, no
// bundler, nothing loaded from outside the machine. Text from the server is only ever set as
// textContent. This module wires the page's controls to the modules that own them.

import { apiKey } from "./api.js";
import { collectionChanged, loadCollections } from "./collections.js";
import { ask, newConversation, state } from "./conversation.js";
import { loadDocuments, showChosen, upload } from "./documents.js";
import { $ } from "./dom.js";
import { restore } from "./history.js";
import { applyLanguage, setLanguage } from "./i18n.js";
import { saveKey, showKeyState } from "./key.js";
import { passageClosed } from "./passages.js";

function init() {
  applyLanguage();
  for (const button of document.querySelectorAll("[data-language]")) {
    button.addEventListener("click", () => setLanguage(button.dataset.language));
  }
  $("api-key").value = apiKey();
  showKeyState();
  $("settings").addEventListener("submit", (event) => {
    event.preventDefault();
    saveKey();
  });
  $("api-key").addEventListener("change", saveKey);
  $("forget-key").addEventListener("click", () => {
    $("api-key").value = "";
    saveKey();
  });
  $("collection").addEventListener("change", () => collectionChanged(null));
  $("reload-collections").addEventListener("click", loadCollections);
  $("reload-documents").addEventListener("click", loadDocuments);
  $("new-conversation").addEventListener("click", newConversation);
  $("stop").addEventListener("click", () => state.controller && state.controller.abort());

  const question = $("question");
  $("ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = question.value.trim();
    if (!text || state.controller) return;
    question.value = "";
    ask(text);
  });
  question.addEventListener("keydown", (event) => {
    // Enter sends; Shift+Enter is a new line; Enter while an IME composes Japanese is not a send.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      $("ask-form").requestSubmit();
    }
  });

  $("upload-form").addEventListener("submit", upload);
  $("files").addEventListener("change", showChosen);
  const dialog = $("passage-dialog");
  $("passage-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", passageClosed);
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close(); // a click on the backdrop
  });

  loadCollections();
  restore();
}

document.addEventListener("DOMContentLoaded", init);
