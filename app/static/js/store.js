// Conversations kept in this browser, one encrypted slot per API key: the slot's name is a
// hash of the key and its content is AES-GCM encrypted with a key derived from it, so under
// another key (or none) they can be neither found nor read. Needs WebCrypto, which browsers
// give only to secure pages (https, or localhost); elsewhere nothing is kept.

import { apiKey } from "./api.js";

const PREFIX = "kura.conversations.";
const MAX_CONVERSATIONS = 50;
const encoder = new TextEncoder();
let slotCache = null; // {apiKey, name, key}

export function canKeep() {
  return Boolean(globalThis.isSecureContext && globalThis.crypto && crypto.subtle);
}

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

async function slot() {
  const key = apiKey();
  if (slotCache && slotCache.apiKey === key) return slotCache;
  // "kura:" keeps the material non-empty when kura runs without keys.
  const material = encoder.encode(`kura:${key}`);
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(`kura conversations slot\u0000${key}`));
  const base = await crypto.subtle.importKey("raw", material, "HKDF", false, ["deriveKey"]);
  const aes = await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: encoder.encode("kura.conversations.v1"), info: new Uint8Array() },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
  slotCache = { apiKey: key, name: PREFIX + hex(digest).slice(0, 32), key: aes };
  return slotCache;
}

const EMPTY = () => ({ current: null, conversations: [] });

export async function load() {
  if (!canKeep()) return EMPTY();
  const { name, key } = await slot();
  const raw = localStorage.getItem(name);
  if (!raw) return EMPTY();
  try {
    const { iv, data } = JSON.parse(raw);
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: fromBase64(iv) }, key, fromBase64(data));
    const db = JSON.parse(new TextDecoder().decode(plain));
    return { current: db.current || null, conversations: db.conversations || [] };
  } catch {
    return EMPTY(); // unreadable (damaged): start afresh rather than fail the page
  }
}

async function write(db) {
  const { name, key } = await slot();
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, encoder.encode(JSON.stringify(db)));
  localStorage.setItem(name, JSON.stringify({ iv: toBase64(iv), data: toBase64(new Uint8Array(data)) }));
}

export async function save(db) {
  if (!canKeep()) return;
  db.conversations.sort((a, b) => b.updated - a.updated);
  db.conversations.length = Math.min(db.conversations.length, MAX_CONVERSATIONS);
  for (;;) {
    try {
      await write(db);
      return;
    } catch (error) {
      // The browser's storage is full: the oldest conversations give way.
      if (error.name !== "QuotaExceededError" || db.conversations.length <= 1) throw error;
      db.conversations.pop();
    }
  }
}

export async function put(conversation) {
  const db = await load();
  db.conversations = db.conversations.filter((c) => c.id !== conversation.id);
  db.conversations.push(conversation);
  db.current = conversation.id;
  await save(db);
}

export async function remove(id) {
  const db = await load();
  db.conversations = db.conversations.filter((c) => c.id !== id);
  if (db.current === id) db.current = null;
  await save(db);
}

export async function setCurrent(id) {
  const db = await load();
  db.current = id;
  await save(db);
}
