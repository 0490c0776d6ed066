// The conversation: asking (the answer streams as server-sent events), follow-ups, stopping,
// regenerating or editing a question, and keeping it in the browser after each answer.

import { ApiError, errorFrom, errorText, headers } from "./api.js";
import { currentCollection } from "./collections.js";
import { $ } from "./dom.js";
import { refreshList } from "./history.js";
import { msg, revive } from "./i18n.js";
import { clearNotice, showNotice } from "./notices.js";
import { readEvents } from "./sse.js";
import * as store from "./store.js";
import { Turn } from "./turn.js";

const HISTORY_TURNS = 12; // earlier turns sent with a follow-up (the server uses fewer)
// Errors that mean the model cannot answer now; the passages found are still worth reading.
const UNAVAILABLE = new Set(["LLMUnavailable", "ModelNotFound", "LLMLoading", "LLMTimeout", "LLMFailed"]);

export const state = {
  id: null, // the conversation's id in the browser's store (null: not kept yet)
  records: [], // [{question, passages, answer, error}], one per turn shown
  controller: null, // AbortController of the answer streaming now
};

function setBusy(busy) {
  $("conversation").setAttribute("aria-busy", busy ? "true" : "false");
  $("ask-button").hidden = busy;
  $("stop").hidden = !busy;
}

function history() {
  const turns = [];
  for (const r of state.records) {
    if (!r.answer) continue;
    turns.push({ role: "user", content: r.question }, { role: "assistant", content: r.answer.answer || "" });
  }
  return turns.slice(-HISTORY_TURNS);
}

function show(record) {
  const turn = new Turn(record.question, {
    onRegenerate: () => regenerate(record),
    onEdit: () => edit(record),
  });
  record.node = turn.node;
  $("empty-conversation").hidden = true;
  $("conversation").append(turn.node);
  return turn;
}

function dropFrom(record) {
  // Regenerating or editing a turn starts the conversation over from it.
  const index = state.records.indexOf(record);
  if (index < 0) return;
  for (const r of state.records.splice(index)) r.node.remove();
  $("empty-conversation").hidden = state.records.length > 0;
}

// The headline is the page's message or the server's text; the detail is the server's.
function failure(data) {
  if (UNAVAILABLE.has(data.error)) {
    return { headline: msg("answer.unavailable"), detail: data.detail || "" };
  }
  return { headline: data.detail || data.error || msg("answer.failed"), detail: "" };
}

export async function ask(question) {
  const collection = currentCollection();
  if (!collection) {
    showNotice(msg("ask.pick_collection"));
    return;
  }
  clearNotice();
  const body = { question, collection, stream: true, history: history() };
  if ($("show-reasoning").checked) body.include_reasoning = true;
  const record = { question, passages: [], answer: null, error: null };
  const turn = show(record);
  state.records.push(record);
  turn.node.scrollIntoView({ block: "nearest" });
  const controller = new AbortController();
  state.controller = controller;
  setBusy(true);
  const fail = (headline, detail = "") => {
    record.error = { headline, detail };
    turn.fail(headline, detail);
  };
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
      throw new ApiError(0, msg("error.unreachable"));
    }
    if (!response.ok) throw await errorFrom(response);
    const type = response.headers.get("Content-Type") || "";
    if (!type.includes("text/event-stream")) {
      // A server that answered whole instead of streaming: same Answer object.
      record.answer = await response.json();
      turn.finish(record.answer);
    } else {
      await readEvents(response, (name, data) => {
        if (name === "passages") {
          record.passages = data.passages || [];
          turn.showPassages(record.passages);
        } else if (name === "queued") turn.queued(data.position);
        else if (name === "writing") turn.writing();
        else if (name === "reasoning") turn.addReasoning(data.text || "");
        else if (name === "token") turn.addToken(data.text || "");
        else if (name === "done") {
          record.answer = data;
          turn.finish(data);
        } else if (name === "error") {
          const { headline, detail } = failure(data);
          fail(headline, detail);
        }
      });
      if (!record.answer && !record.error) fail(msg("answer.incomplete"));
    }
  } catch (error) {
    if (error.name === "AbortError") fail(msg("answer.stopped"));
    else fail(errorText(error));
  } finally {
    state.controller = null;
    setBusy(false);
  }
  await keep(collection);
}

async function keep(collection) {
  if (!store.canKeep()) return;
  if (!state.records.length) {
    // Every turn was taken back (edit of the first question): nothing left to keep.
    if (state.id) await store.remove(state.id);
    state.id = null;
    await refreshList();
    return;
  }
  state.id = state.id || `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const records = state.records.map(({ question, passages, answer, error }) => ({ question, passages, answer, error }));
  try {
    await store.put({ id: state.id, title: records[0].question.slice(0, 80), collection, updated: Date.now(), records });
  } catch (error) {
    showNotice(msg("history.keep_failed", { error: String(error) }));
  }
  await refreshList();
}

function regenerate(record) {
  if (state.controller) return;
  dropFrom(record);
  ask(record.question);
}

function edit(record) {
  if (state.controller) return;
  dropFrom(record);
  const question = $("question");
  question.value = record.question;
  question.focus();
  keep(currentCollection());
}

function clearView() {
  if (state.controller) state.controller.abort();
  state.records = [];
  for (const turn of $("conversation").querySelectorAll(".turn")) turn.remove();
  $("empty-conversation").hidden = false;
}

export async function newConversation() {
  clearView();
  state.id = null;
  if (store.canKeep()) await store.setCurrent(null);
  await refreshList();
  $("question").focus();
}

export function openConversation(conversation) {
  clearView();
  state.id = conversation.id;
  for (const saved of conversation.records || []) {
    const record = { ...saved };
    const turn = show(record);
    state.records.push(record);
    if (record.passages && record.passages.length) turn.showPassages(record.passages);
    if (record.answer) turn.finish(record.answer);
    else if (record.error) {
      const { headline, detail } = kept(record.error);
      turn.fail(headline, detail);
    }
  }
}

// A kept error: {headline, detail} (its headline a message kept as JSON, or text), or, as
// kept before the page spoke Japanese, "headline\ndetail".
function kept(error) {
  if (typeof error === "string") {
    const [headline, ...detail] = error.split("\n");
    return { headline, detail: detail.join("\n") };
  }
  return { headline: revive(error.headline), detail: error.detail || "" };
}
