// The conversation: asking (the answer streams as server-sent events), follow-ups, stopping.

import { ApiError, errorFrom, headers } from "./api.js";
import { currentCollection } from "./collections.js";
import { $ } from "./dom.js";
import { clearNotice, showNotice } from "./notices.js";
import { readEvents } from "./sse.js";
import { Turn } from "./turn.js";

const HISTORY_TURNS = 12; // earlier turns sent with a follow-up (the server uses fewer)

export const state = {
  history: [], // [{role, content}] of finished turns
  controller: null, // AbortController of the answer streaming now
};

function setBusy(busy) {
  $("conversation").setAttribute("aria-busy", busy ? "true" : "false");
  $("ask-button").disabled = busy;
  $("stop").hidden = !busy;
}

export async function ask(question) {
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

export function newConversation() {
  if (state.controller) state.controller.abort();
  state.history = [];
  const conversation = $("conversation");
  for (const turn of conversation.querySelectorAll(".turn")) turn.remove();
  $("empty-conversation").hidden = false;
  $("question").focus();
}
