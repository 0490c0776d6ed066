// The list of conversations kept in this browser for the current key: reopen, delete.

import { openConversation, state } from "./conversation.js";
import { $, el, formatDate, langOf } from "./dom.js";
import * as store from "./store.js";

export async function refreshList() {
  const list = $("conversation-list");
  if (!store.canKeep()) {
    list.replaceChildren();
    $("history-count").textContent = "";
    $("history-hint").textContent =
      "Conversations are kept only when kura is opened over https (or on localhost).";
    return;
  }
  const db = await store.load();
  $("history-count").textContent = db.conversations.length ? `(${db.conversations.length})` : "";
  $("history-hint").textContent = db.conversations.length
    ? "Kept in this browser for this API key only."
    : "No conversations kept yet.";
  list.replaceChildren(...db.conversations.map((c) => {
    const open = el("button", {
      type: "button",
      class: "link conversation-open",
      "aria-current": c.id === state.id ? "true" : null,
      onclick: () => reopen(c.id),
    }, el("span", { class: "conversation-title", lang: langOf(c.title), text: c.title }),
    el("span", { class: "hint", text: ` ${c.collection} · ${formatDate(c.updated)}` }));
    const remove = el("button", {
      type: "button",
      class: "link danger",
      "aria-label": `Delete conversation: ${c.title}`,
      text: "Delete",
      onclick: () => forget(c.id),
    });
    return el("li", { "data-id": c.id }, open, " ", remove);
  }));
}

async function reopen(id) {
  const db = await store.load();
  const conversation = db.conversations.find((c) => c.id === id);
  if (!conversation) return refreshList();
  openConversation(conversation);
  await store.setCurrent(id);
  $("history").open = false;
  return refreshList();
}

async function forget(id) {
  await store.remove(id);
  if (state.id === id) openConversation({ id: null, records: [] });
  await refreshList();
}

export async function restore() {
  // After a reload, or with another key: that key's current conversation, if any.
  openConversation({ id: null, records: [] });
  if (store.canKeep()) {
    const db = await store.load();
    const current = db.conversations.find((c) => c.id === db.current);
    if (current) openConversation(current);
  }
  await refreshList();
}
