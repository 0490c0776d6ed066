// The list of conversations kept in this browser for the current key: reopen, delete.

import { openConversation, state } from "./conversation.js";
import { $, asDate, el, langOf } from "./dom.js";
import { msg, setText } from "./i18n.js";
import * as store from "./store.js";

export async function refreshList() {
  const list = $("conversation-list");
  if (!store.canKeep()) {
    list.replaceChildren();
    setText($("history-count"), "");
    setText($("history-hint"), msg("history.not_kept"));
    return;
  }
  const db = await store.load();
  const count = db.conversations.length;
  setText($("history-count"), count ? msg("history.count", { count }) : "");
  setText($("history-hint"), count ? msg("history.kept") : msg("history.none"));
  list.replaceChildren(...db.conversations.map((c) => {
    const where = msg("history.item", { collection: c.collection, date: asDate(c.updated) });
    const open = el("button", {
      type: "button",
      class: "link conversation-open",
      "aria-current": c.id === state.id ? "true" : null,
      onclick: () => reopen(c.id),
    }, el("span", { class: "conversation-title", lang: langOf(c.title), text: c.title }),
    " ", el("span", { class: "hint", text: where }));
    const remove = el("button", {
      type: "button",
      class: "link danger",
      "aria-label": msg("history.delete_label", { title: c.title }),
      text: msg("history.delete"),
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
