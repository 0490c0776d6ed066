// The collection picker: the collections the key may read, and a new one to upload into.

import { api, reportError } from "./api.js";
import { loadDocuments } from "./documents.js";
import { $, el } from "./dom.js";
import { msg, setText } from "./i18n.js";
import { hideWelcome } from "./notices.js";

export const COLLECTION_STORAGE = "kura.collection";
export const NEW_COLLECTION = "\u0000new";

export function currentCollection() {
  const select = $("collection");
  if (select.value === NEW_COLLECTION) return $("new-collection").value.trim();
  return select.value;
}

export async function loadCollections() {
  const select = $("collection");
  let collections;
  try {
    const body = await api("/v1/collections");
    collections = Array.isArray(body) ? body : body.collections || [];
    hideWelcome();
  } catch (error) {
    reportError(error);
    return;
  }
  const wanted = select.value || localStorage.getItem(COLLECTION_STORAGE);
  select.replaceChildren();
  for (const c of collections) {
    const label = msg("collection.option", { name: c.name, count: c.documents ?? 0 });
    select.append(el("option", { value: c.name, text: label, title: c.description || null }));
  }
  select.append(el("option", { value: NEW_COLLECTION, text: msg("collection.new") }));
  const names = collections.map((c) => c.name);
  if (wanted === NEW_COLLECTION || names.includes(wanted)) select.value = wanted;
  else select.value = names.length ? names[0] : NEW_COLLECTION;
  collectionChanged(collections);
}

export function collectionChanged(collections) {
  const select = $("collection");
  const creating = select.value === NEW_COLLECTION;
  $("new-collection").hidden = !creating;
  if (!creating) localStorage.setItem(COLLECTION_STORAGE, select.value);
  const info = $("collection-info");
  const known = (collections || []).find((c) => c.name === select.value);
  if (creating) setText(info, msg("collection.create_hint"));
  else if (known) setText(info, known.description || msg("collection.passages", { count: known.chunks ?? 0 }));
  else setText(info, "");
  loadDocuments();
}

export async function createCollection(name) {
  try {
    await api("/v1/collections", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name }),
    });
  } catch (error) {
    if (error.status !== 409) throw error; // 409: it exists already, which is what we want
  }
}
