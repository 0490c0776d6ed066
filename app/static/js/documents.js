// Uploads followed until indexed, and the collection's documents table.

import { api, errorText, reportError } from "./api.js";
import {
  COLLECTION_STORAGE,
  createCollection,
  currentCollection,
  loadCollections,
  NEW_COLLECTION,
} from "./collections.js";
import { $, asDate, basename, el, joined, langOf, sleep } from "./dom.js";
import { msg, setText, t } from "./i18n.js";
import { clearNotice, showNotice } from "./notices.js";
import { versionText } from "./passages.js";

const POLL_MS = 1000;

// A status from the server: its badge's colour and its words (one the page does not know
// shows as sent).
const STATUSES = {
  indexed: ["ok", msg("status.indexed")],
  unchanged: ["muted", msg("status.unchanged")],
  done: ["ok", msg("status.done")],
  failed: ["bad", msg("status.failed")],
  running: ["info", msg("status.running")],
  queued: ["muted", msg("status.queued")],
};

function statusBadge(status) {
  const [cls, words] = Object.hasOwn(STATUSES, status) ? STATUSES[status] : ["muted", status];
  return el("span", { class: `badge ${cls}`, text: words });
}

function renderJob(box, job, upload) {
  box.replaceChildren();
  const title = el("p", { class: "job-title" }, msg("upload.to", { collection: upload.collection }), " ",
    statusBadge(job.status || "queued"));
  box.append(title);
  const list = el("ul", { class: "job-files" });
  for (const f of job.files || []) {
    const item = el("li", { "data-file": basename(f.source) },
      el("span", { class: "file-name", lang: langOf(f.source), text: basename(f.source) }), " ",
      statusBadge(f.status));
    if (f.status === "indexed" || f.status === "unchanged") {
      if (f.chunks != null) {
        item.append(" ", el("span", { class: "hint", text: msg("upload.passages", { count: f.chunks }) }));
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

// The chosen files in the page's words (the browser's own button is hidden: index.html).
export function showChosen() {
  const names = [...$("files").files].map((file) => file.name);
  const chosen = names.length
    ? msg("upload.chosen", { count: names.length, names })
    : msg("upload.none_chosen");
  setText($("files-chosen"), chosen);
}

export async function upload(event) {
  event.preventDefault();
  const collection = currentCollection();
  const files = $("files").files;
  if (!collection) {
    showNotice(msg("upload.pick_collection"));
    return;
  }
  if (!files.length) {
    showNotice(msg("upload.choose_files"));
    return;
  }
  clearNotice();
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  const groups = $("groups").value.trim();
  if (groups) form.append("groups", groups);
  const button = $("upload-button");
  button.disabled = true;
  const uploading = msg("upload.uploading", { count: files.length });
  const box = el("div", { class: "job" }, el("p", { class: "hint", text: uploading }));
  $("jobs").prepend(box);
  try {
    if ($("collection").value === NEW_COLLECTION) await createCollection(collection);
    const accepted = await api(`/v1/collections/${encodeURIComponent(collection)}/documents`, {
      method: "POST",
      body: form,
    });
    $("upload-form").reset();
    showChosen();
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
    box.append(el("p", { class: "error", role: "alert", text: errorText(error) }));
  } finally {
    button.disabled = false;
  }
}

export async function loadDocuments() {
  const collection = $("collection").value;
  const body = $("documents").tBodies[0];
  if (!collection || collection === NEW_COLLECTION) {
    body.replaceChildren();
    $("documents-empty").hidden = false;
    return;
  }
  let documents;
  let data;
  try {
    data = await api(`/v1/collections/${encodeURIComponent(collection)}/documents`);
    documents = Array.isArray(data) ? data : data.documents || [];
  } catch (error) {
    body.replaceChildren();
    if (error.status !== 404) reportError(error);
    $("documents-empty").hidden = false;
    return;
  }
  $("documents-empty").hidden = documents.length > 0;
  const writable = Boolean(data.writable);
  body.replaceChildren(...documents.map((d) => documentRow(d, collection, writable)));
}

async function deleteDocument(d, collection, button) {
  const name = basename(d.source);
  const question = d.status === "failed"
    ? t("document.confirm_delete_failed", { name, collection })
    : t("document.confirm_delete", { name, collection });
  if (!window.confirm(question)) return;
  button.disabled = true;
  try {
    await api(`/v1/collections/${encodeURIComponent(collection)}/documents/${encodeURIComponent(d.document_id)}`, {
      method: "DELETE",
    });
  } catch (error) {
    button.disabled = false;
    reportError(error);
    return;
  }
  await loadCollections(); // counts changed; it reloads the documents table too
}

function documentRow(d, collection, writable) {
  const name = basename(d.source);
  const doc = el("td", { class: "doc" },
    el("span", { class: "doc-file", lang: langOf(name), text: name }));
  if (d.title && d.title !== name) {
    doc.append(el("span", { class: "doc-title hint", lang: langOf(d.title), text: d.title }));
  }
  const versions = (d.versions || []).length;
  const about = [
    versionText(d.version_label, d.effective_date),
    versions > 1 && msg("document.versions", { count: versions }),
    d.ingested_at && msg("document.added", { date: asDate(d.ingested_at) }),
  ].filter(Boolean);
  if (about.length) doc.append(el("span", { class: "doc-about hint" }, ...joined(about)));
  for (const flag of d.flags || []) {
    const known = flag === "instructions";
    doc.append(el("span", {
      class: "badge warn",
      title: known ? msg("document.flag_instructions_title") : null,
      text: known ? msg("document.flag_instructions") : `⚠ ${flag}`,
    }), " ");
  }
  if (d.reason) doc.append(el("span", { class: "reason doc-reason", text: d.reason }));
  const actions = el("td", { class: "tight" });
  if (writable) {
    actions.append(el("button", {
      type: "button",
      class: "link danger",
      "aria-label": msg("document.delete_label", { name }),
      text: msg("document.delete"),
      onclick: (event) => deleteDocument(d, collection, event.currentTarget),
    }));
  }
  return el("tr", { "data-source": name, "data-status": d.status },
    doc, el("td", { class: "tight" }, statusBadge(d.status)),
    el("td", { class: "num tight", text: String(d.chunks ?? "") }), actions);
}
