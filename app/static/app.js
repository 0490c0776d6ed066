// kura's web page: ask questions (answers stream as server-sent events), read cited passages,
// upload documents and follow their indexing. Plain DOM code: no framework, nothing loaded
// from outside the machine. Text from the server is only ever set as textContent.
"use strict";

const KEY_STORAGE = "kura.apiKey";
const COLLECTION_STORAGE = "kura.collection";
const NEW_COLLECTION = "\u0000new";
const HISTORY_TURNS = 12; // earlier turns sent with a follow-up (the server uses fewer)
const POLL_MS = 1000;
const JAPANESE = /[\u3040-\u30ff\u3400-\u9fff]/;

const $ = (id) => document.getElementById(id);

const state = {
  history: [], // [{role, content}] of finished turns
  controller: null, // AbortController of the answer streaming now
};

// ---------- small helpers ----------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

function basename(path) {
  const parts = String(path || "").split(/[\\/]/);
  return parts[parts.length - 1] || String(path || "");
}

function pages(p) {
  if (p.page_start == null && p.page_end == null) return "";
  const start = p.page_start ?? p.page_end;
  const end = p.page_end ?? p.page_start;
  return start === end ? `p. ${start}` : `pp. ${start}–${end}`;
}

function langOf(text) {
  return JAPANESE.test(text || "") ? "ja" : null;
}

function formatDate(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

// ---------- API calls ----------

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

function headers(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

function detailText(body, status) {
  const detail = body && body.detail;
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail)) {
    // FastAPI's validation errors: [{loc, msg}, ...]
    return detail.map((d) => (d && d.msg ? d.msg : JSON.stringify(d))).join("; ");
  }
  if (detail) return JSON.stringify(detail);
  return `The server answered HTTP ${status}.`;
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.status === 401) {
    markKeyInvalid();
    return new ApiError(401, "Enter a valid API key.");
  }
  return new ApiError(response.status, detailText(body, response.status));
}

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  } catch {
    throw new ApiError(0, "Cannot reach kura. Is the server running?");
  }
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return null;
  return response.json();
}

// ---------- notices ----------

function showNotice(message) {
  const notice = $("notice");
  notice.textContent = message;
  notice.hidden = false;
}

function clearNotice() {
  $("notice").hidden = true;
  $("notice").textContent = "";
}

function markKeyInvalid() {
  const input = $("api-key");
  input.setAttribute("aria-invalid", "true");
  $("key-status").textContent = "Enter a valid API key.";
  $("key-status").classList.add("error-text");
}

function reportError(error) {
  showNotice(error instanceof ApiError ? error.message : `Something went wrong: ${error}`);
}

// ---------- API key ----------

function showKeyState() {
  const input = $("api-key");
  input.removeAttribute("aria-invalid");
  $("key-status").classList.remove("error-text");
  $("key-status").textContent = apiKey()
    ? "Key saved in this browser."
    : "No key saved (fine when kura runs without authentication).";
}

function saveKey() {
  const key = $("api-key").value.trim();
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
  showKeyState();
  clearNotice();
  loadCollections();
}

// ---------- collections ----------

function currentCollection() {
  const select = $("collection");
  if (select.value === NEW_COLLECTION) return $("new-collection").value.trim();
  return select.value;
}

async function loadCollections() {
  const select = $("collection");
  let collections;
  try {
    const body = await api("/v1/collections");
    collections = Array.isArray(body) ? body : body.collections || [];
  } catch (error) {
    reportError(error);
    return;
  }
  const wanted = select.value || localStorage.getItem(COLLECTION_STORAGE);
  select.replaceChildren();
  for (const c of collections) {
    const label = `${c.name} (${c.documents ?? 0} documents)`;
    select.append(el("option", { value: c.name, text: label, title: c.description || null }));
  }
  select.append(el("option", { value: NEW_COLLECTION, text: "New collection…" }));
  const names = collections.map((c) => c.name);
  if (wanted === NEW_COLLECTION || names.includes(wanted)) select.value = wanted;
  else select.value = names.length ? names[0] : NEW_COLLECTION;
  collectionChanged(collections);
}

function collectionChanged(collections) {
  const select = $("collection");
  const creating = select.value === NEW_COLLECTION;
  $("new-collection").hidden = !creating;
  if (!creating) localStorage.setItem(COLLECTION_STORAGE, select.value);
  const info = $("collection-info");
  const known = (collections || []).find((c) => c.name === select.value);
  if (creating) {
    info.textContent = "Upload documents to create it.";
  } else if (known) {
    info.textContent = known.description || `${known.chunks ?? 0} passages indexed.`;
  } else {
    info.textContent = "";
  }
  loadDocuments();
}

// ---------- asking: server-sent events over a POST ----------

// Parses the event stream line by line as the SSE spec does (CRLF, LF or CR line ends,
// comments, multi-line data) and calls onEvent(name, data) for each complete event.
async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let name = "";
  let data = [];
  const dispatch = () => {
    if (data.length) {
      let payload;
      try {
        payload = JSON.parse(data.join("\n"));
      } catch {
        payload = { text: data.join("\n") };
      }
      onEvent(name || "message", payload);
    }
    name = "";
    data = [];
  };
  const line = (text) => {
    if (text === "") return dispatch();
    if (text.startsWith(":")) return undefined;
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
    return undefined;
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let match;
    // A CR at the very end may be half of a CRLF: keep it for the next chunk.
    while ((match = /\r\n|\n|\r(?!$)/.exec(buffer))) {
      line(buffer.slice(0, match.index));
      buffer = buffer.slice(match.index + match[0].length);
    }
  }
  if (buffer) line(buffer.replace(/\r$/, ""));
  dispatch();
}

function renderInline(parent, text, onCite) {
  // **bold**, `code` and citation marks; everything else is plain text.
  const pattern = /\*\*([^*]+)\*\*|`([^`]+)`|\[(\d+(?:\s*[,、]\s*\d+)*)\]/g;
  let last = 0;
  let match;
  while ((match = pattern.exec(text))) {
    if (match.index > last) parent.append(text.slice(last, match.index));
    if (match[1] !== undefined) parent.append(el("strong", { text: match[1] }));
    else if (match[2] !== undefined) parent.append(el("code", { text: match[2] }));
    else {
      const numbers = match[3].split(/\s*[,、]\s*/).map(Number);
      for (const n of numbers) parent.append(onCite(n));
    }
    last = pattern.lastIndex;
  }
  if (last < text.length) parent.append(text.slice(last));
}

function renderAnswer(container, text, onCite) {
  // A small part of Markdown, the part gpt-oss uses in answers: paragraphs, lists, headings.
  container.replaceChildren();
  const lang = langOf(text);
  if (lang) container.setAttribute("lang", lang);
  else container.removeAttribute("lang");
  let list = null;
  let paragraph = null;
  for (const raw of text.split("\n")) {
    const lineText = raw.trimEnd();
    const bullet = /^\s*[-*•]\s+(.*)$/.exec(lineText);
    const numbered = /^\s*(\d+)[.)]\s+(.*)$/.exec(lineText);
    const heading = /^\s*#{1,6}\s+(.*)$/.exec(lineText);
    if (!lineText.trim()) {
      list = null;
      paragraph = null;
    } else if (bullet || numbered) {
      const kind = bullet ? "ul" : "ol";
      if (!list || list.tagName.toLowerCase() !== kind) {
        list = el(kind);
        if (numbered) list.setAttribute("start", numbered[1]);
        container.append(list);
      }
      const item = el("li");
      renderInline(item, bullet ? bullet[1] : numbered[2], onCite);
      list.append(item);
      paragraph = null;
    } else if (heading) {
      const h = el("p", { class: "answer-heading" });
      renderInline(h, heading[1], onCite);
      container.append(h);
      list = null;
      paragraph = null;
    } else {
      list = null;
      if (paragraph) paragraph.append(el("br"));
      else {
        paragraph = el("p");
        container.append(paragraph);
      }
      renderInline(paragraph, lineText, onCite);
    }
  }
}

function verifiedBadge(passage) {
  const v = passage.verified;
  const [cls, text] =
    v === true ? ["ok", "verified"] : v === false ? ["warn", "not verified"] : ["muted", "not checked"];
  return el("span", { class: `badge ${cls}`, title: passage.verification || null, text });
}

function passageLabel(p) {
  const where = [p.section, p.clause, pages(p)].filter(Boolean).join(" · ");
  return where ? `${basename(p.source)} — ${where}` : basename(p.source);
}

// One question and its answer in the conversation.
class Turn {
  constructor(question) {
    this.passages = new Map(); // n -> Passage, from the passages event, then the citations
    this.cited = new Set();
    this.text = "";
    this.pending = false;
    this.node = el("article", { class: "turn" });
    this.node.append(el("p", { class: "question", lang: langOf(question), text: question }));
    this.status = el("p", { class: "status hint", text: "Searching the documents…" });
    this.reasoning = el("details", { class: "reasoning", hidden: true },
      el("summary", { text: "Reasoning" }), el("div", { class: "reasoning-text" }));
    this.answer = el("div", { class: "answer" });
    this.error = el("p", { class: "error", role: "alert", hidden: true });
    this.notes = el("div", { class: "notes" });
    this.sources = el("div", { class: "sources", hidden: true });
    this.meta = el("p", { class: "meta hint" });
    this.node.append(this.status, this.reasoning, this.answer, this.error, this.notes,
      this.sources, this.meta);
  }

  citeButton(n) {
    const p = this.passages.get(n);
    return el("button", {
      type: "button",
      class: "cite",
      "data-n": String(n),
      "aria-label": p ? `Source ${n}: ${passageLabel(p)}` : `Source ${n}`,
      text: `[${n}]`,
      onclick: (event) => openPassage(this.passages.get(n), n, event.currentTarget),
    });
  }

  showPassages(passages) {
    for (const p of passages) this.passages.set(p.n, p);
    this.renderSources();
    this.status.textContent = passages.length
      ? `Found ${passages.length} passages. Writing the answer…`
      : "No passages found.";
  }

  sourceItem(p) {
    const extra = p.role === "reference" ? ` (referred to by [${p.via}])`
      : p.role === "definition" ? ` (definition used in [${p.via}])` : "";
    const button = el("button", {
      type: "button",
      class: "source",
      onclick: (event) => openPassage(p, p.n, event.currentTarget),
    }, el("span", { class: "n", text: `[${p.n}]` }), ` ${passageLabel(p)}${extra}`);
    const cited = this.cited.has(p.n);
    const item = el("li", { class: cited ? "cited" : null }, button);
    if (cited) item.append(" ", verifiedBadge(p));
    return item;
  }

  renderSources() {
    // Before the answer is done every passage found is listed; after it, the cited ones, with
    // the rest folded away.
    const items = [...this.passages.values()].sort((a, b) => a.n - b.n);
    this.sources.hidden = items.length === 0;
    const shown = this.cited.size ? items.filter((p) => this.cited.has(p.n)) : items;
    const rest = this.cited.size ? items.filter((p) => !this.cited.has(p.n)) : [];
    const heading = this.cited.size ? "Sources cited" : "Passages found";
    this.sources.replaceChildren(el("h3", { text: heading }),
      el("ol", { class: "source-list" }, ...shown.map((p) => this.sourceItem(p))));
    if (rest.length) {
      this.sources.append(el("details", { class: "more-sources" },
        el("summary", { text: `${rest.length} more passage${rest.length > 1 ? "s" : ""} given to the model` }),
        el("ol", { class: "source-list" }, ...rest.map((p) => this.sourceItem(p)))));
    }
  }

  addToken(text) {
    this.text += text;
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      renderAnswer(this.answer, this.text, (n) => this.citeButton(n));
    });
  }

  addReasoning(text) {
    if (!$("show-reasoning").checked) return;
    this.reasoning.hidden = false;
    this.reasoning.querySelector(".reasoning-text").append(text);
  }

  finish(answer) {
    this.status.remove();
    for (const p of answer.citations || []) {
      this.passages.set(p.n, p);
      this.cited.add(p.n);
    }
    this.text = answer.answer || "";
    renderAnswer(this.answer, this.text, (n) => this.citeButton(n));
    this.renderSources();
    this.notes.replaceChildren();
    if (answer.covered === false) {
      this.notes.append(el("p", { class: "note", text: "The documents do not seem to cover this question." }));
    }
    if ((answer.invalid_citations || []).length) {
      const marks = answer.invalid_citations.map((n) => `[${n}]`).join(" ");
      this.notes.append(el("p", { class: "note warn-text",
        text: `Removed citations of passages the model was not given: ${marks}` }));
    }
    for (const note of answer.version_notes || []) {
      const label = note.version_label || "an earlier version";
      const when = note.effective_date ? `, effective ${note.effective_date}` : "";
      this.notes.append(el("details", { class: "note version-note" },
        el("summary", {}, `${note.clause} `, this.citeButton(note.n),
          ` read differently in ${label}${when}.`),
        el("p", { class: "passage-text", lang: langOf(note.text), text: note.text })));
    }
    if (answer.finish_reason === "length") {
      this.notes.append(el("p", { class: "note warn-text", text: "The answer was cut off (length limit)." }));
    }
    const parts = [];
    const t = answer.timings;
    if (t) parts.push(`${(t.total_ms / 1000).toFixed(1)} s (retrieval ${Math.round(t.retrieval_ms)} ms, generation ${Math.round(t.generation_ms)} ms)`);
    const u = answer.usage;
    if (u && (u.prompt_tokens || u.completion_tokens)) parts.push(`${u.prompt_tokens} + ${u.completion_tokens} tokens`);
    if (answer.model) parts.push(answer.model);
    this.meta.textContent = parts.join(" · ");
  }

  fail(message) {
    this.status.remove();
    this.error.hidden = false;
    this.error.textContent = message;
  }
}

function setBusy(busy) {
  $("conversation").setAttribute("aria-busy", busy ? "true" : "false");
  $("ask-button").disabled = busy;
  $("stop").hidden = !busy;
}

async function ask(question) {
  const collection = currentCollection();
  if (!collection) {
    showNotice("Pick a collection first.");
    return;
  }
  clearNotice();
  $("empty-conversation").hidden = true;
  const turn = new Turn(question);
  $("conversation").append(turn.node);
  turn.node.scrollIntoView({ block: "nearest" });
  const controller = new AbortController();
  state.controller = controller;
  setBusy(true);
  const body = {
    question,
    collection,
    stream: true,
    history: state.history.slice(-HISTORY_TURNS),
  };
  if ($("show-reasoning").checked) body.include_reasoning = true;
  let finished = null;
  let failed = false;
  try {
    let response;
    try {
      response = await fetch("/v1/query", {
        method: "POST",
        headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
        body: JSON.stringify(body),
        signal: controller.signal,
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, "Cannot reach kura. Is the server running?");
    }
    if (!response.ok) throw await errorFrom(response);
    const type = response.headers.get("Content-Type") || "";
    if (!type.includes("text/event-stream")) {
      // A server that answered whole instead of streaming: same Answer object.
      finished = await response.json();
      turn.finish(finished);
    } else {
      await readEvents(response, (name, data) => {
        if (name === "passages") turn.showPassages(data.passages || []);
        else if (name === "reasoning") turn.addReasoning(data.text || "");
        else if (name === "token") turn.addToken(data.text || "");
        else if (name === "done") {
          finished = data;
          turn.finish(data);
        } else if (name === "error") {
          failed = true;
          turn.fail(data.detail || data.error || "The answer failed.");
        }
      });
      if (!finished && !failed) turn.fail("The answer stopped before it was complete.");
    }
  } catch (error) {
    if (error.name === "AbortError") turn.fail("Stopped.");
    else turn.fail(error instanceof ApiError ? error.message : `Something went wrong: ${error}`);
  } finally {
    state.controller = null;
    setBusy(false);
  }
  if (finished) {
    state.history.push({ role: "user", content: question });
    state.history.push({ role: "assistant", content: finished.answer || "" });
  }
}

function newConversation() {
  if (state.controller) state.controller.abort();
  state.history = [];
  const conversation = $("conversation");
  for (const turn of conversation.querySelectorAll(".turn")) turn.remove();
  $("empty-conversation").hidden = false;
  $("question").focus();
}

// ---------- the passage panel ----------

let opener = null;

function openPassage(passage, n, from) {
  const dialog = $("passage-dialog");
  opener = from || document.activeElement;
  const meta = $("passage-meta");
  meta.replaceChildren();
  if (!passage) {
    $("passage-title").textContent = `[${n}]`;
    $("passage-text").textContent = "This passage is not available.";
    dialog.showModal();
    return;
  }
  $("passage-title").textContent = `[${passage.n}] ${basename(passage.source)}`;
  const rows = [
    ["File", basename(passage.source)],
    ["Title", passage.title],
    ["Section", passage.section],
    ["Clause", passage.clause],
    ["Page", pages(passage).replace(/^pp?\. /, "")],
    ["Version", [passage.version_label, passage.effective_date && `effective ${passage.effective_date}`].filter(Boolean).join(", ")],
    ["Role", passage.role === "reference" ? `referred to by [${passage.via}]`
      : passage.role === "definition" ? `definition of a term in [${passage.via}]` : ""],
  ];
  for (const [name, value] of rows) {
    if (!value) continue;
    meta.append(el("dt", { text: name }), el("dd", { lang: langOf(value), text: value }));
  }
  const check = el("dd", {}, verifiedBadge(passage));
  if (passage.verification) check.append(" ", el("span", { class: "hint", text: passage.verification }));
  meta.append(el("dt", { text: "Checked" }), check);
  const text = $("passage-text");
  text.textContent = passage.text || "";
  const lang = langOf(passage.text);
  if (lang) text.setAttribute("lang", lang);
  else text.removeAttribute("lang");
  dialog.showModal();
  $("passage-close").focus();
}

function passageClosed() {
  if (opener && document.contains(opener)) opener.focus();
  opener = null;
}

// ---------- uploads and documents ----------

function statusBadge(status) {
  const cls = { indexed: "ok", unchanged: "muted", done: "ok", failed: "bad", running: "info", queued: "muted" }[status] || "muted";
  return el("span", { class: `badge ${cls}`, text: status });
}

function renderJob(box, job, upload) {
  box.replaceChildren();
  const title = el("p", { class: "job-title" }, `Upload to ${upload.collection}: `, statusBadge(job.status || "queued"));
  box.append(title);
  const list = el("ul", { class: "job-files" });
  for (const f of job.files || []) {
    const item = el("li", { "data-file": basename(f.source) },
      el("span", { class: "file-name", lang: langOf(f.source), text: basename(f.source) }), " ",
      statusBadge(f.status));
    if (f.status === "indexed" || f.status === "unchanged") {
      if (f.chunks != null) {
        item.append(el("span", { class: "hint", text: ` ${f.chunks} passage${f.chunks === 1 ? "" : "s"}` }));
      }
    }
    if (f.reason) item.append(el("span", { class: "reason", text: ` ${f.reason}` }));
    list.append(item);
  }
  for (const r of upload.rejected || []) {
    list.append(el("li", { "data-file": basename(r.file) },
      el("span", { class: "file-name", text: basename(r.file) }), " ", statusBadge("failed"),
      el("span", { class: "reason", text: ` ${r.reason}` })));
  }
  box.append(list);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function upload(event) {
  event.preventDefault();
  const collection = currentCollection();
  const files = $("files").files;
  if (!collection) {
    showNotice("Pick a collection, or name a new one, first.");
    return;
  }
  if (!files.length) {
    showNotice("Choose one or more files to upload.");
    return;
  }
  clearNotice();
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  const groups = $("groups").value.trim();
  if (groups) form.append("groups", groups);
  const button = $("upload-button");
  button.disabled = true;
  const box = el("div", { class: "job" }, el("p", { class: "hint", text: `Uploading ${files.length} file(s)…` }));
  $("jobs").prepend(box);
  try {
    if ($("collection").value === NEW_COLLECTION) await createCollection(collection);
    const accepted = await api(`/v1/collections/${encodeURIComponent(collection)}/documents`, {
      method: "POST",
      body: form,
    });
    $("upload-form").reset();
    const upload = { collection, rejected: accepted.rejected || [] };
    let job = {
      status: accepted.job_id ? "queued" : "done",
      files: (accepted.accepted || []).map((name) => ({ source: name, status: "queued" })),
    };
    renderJob(box, job, upload);
    let misses = 0;
    while (accepted.job_id && job.status !== "done") {
      await sleep(POLL_MS);
      try {
        job = await api(`/v1/jobs/${encodeURIComponent(accepted.job_id)}`);
        misses = 0;
      } catch (error) {
        misses += 1;
        if (error.status === 404 || error.status === 401 || misses >= 5) throw error;
        continue;
      }
      renderJob(box, job, upload);
    }
    if ($("collection").value === NEW_COLLECTION) {
      localStorage.setItem(COLLECTION_STORAGE, collection);
      $("collection").value = "";
      $("new-collection").value = "";
    }
    await loadCollections(); // counts changed; it reloads the documents table too
  } catch (error) {
    box.append(el("p", { class: "error", role: "alert", text: error instanceof ApiError ? error.message : String(error) }));
  } finally {
    button.disabled = false;
  }
}

async function createCollection(name) {
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

async function loadDocuments() {
  const collection = $("collection").value;
  const body = $("documents").tBodies[0];
  if (!collection || collection === NEW_COLLECTION) {
    body.replaceChildren();
    $("documents-empty").hidden = false;
    return;
  }
  let documents;
  try {
    const data = await api(`/v1/collections/${encodeURIComponent(collection)}/documents`);
    documents = Array.isArray(data) ? data : data.documents || [];
  } catch (error) {
    body.replaceChildren();
    if (error.status !== 404) reportError(error);
    $("documents-empty").hidden = false;
    return;
  }
  $("documents-empty").hidden = documents.length > 0;
  body.replaceChildren(...documents.map(documentRow));
}

function documentRow(d) {
  const name = basename(d.source);
  const doc = el("td", { class: "doc" },
    el("span", { class: "doc-file", lang: langOf(name), text: name }));
  if (d.title && d.title !== name) {
    doc.append(el("span", { class: "doc-title hint", lang: langOf(d.title), text: d.title }));
  }
  const versions = (d.versions || []).length;
  const about = [
    d.version_label,
    d.effective_date && `effective ${d.effective_date}`,
    versions > 1 && `${versions} versions`,
    d.ingested_at && `added ${formatDate(d.ingested_at)}`,
  ].filter(Boolean).join(" · ");
  if (about) doc.append(el("span", { class: "doc-about hint", text: about }));
  for (const flag of d.flags || []) {
    doc.append(el("span", {
      class: "badge warn",
      title: flag === "instructions"
        ? "Parts of this document read like instructions to the model; kura treats them as text only."
        : null,
      text: `⚠ ${flag}`,
    }), " ");
  }
  if (d.reason) doc.append(el("span", { class: "reason doc-reason", text: d.reason }));
  return el("tr", { "data-source": name },
    doc, el("td", { class: "tight" }, statusBadge(d.status)),
    el("td", { class: "num tight", text: String(d.chunks ?? "") }));
}

// ---------- wiring ----------

function init() {
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
  const dialog = $("passage-dialog");
  $("passage-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", passageClosed);
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close(); // a click on the backdrop
  });

  loadCollections();
}

document.addEventListener("DOMContentLoaded", init);
