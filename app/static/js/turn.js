// One question and its answer in the conversation: status (searching, queued, writing),
// streamed answer, sources, notes, and copy / regenerate / edit once it is done.

import { $, el, langOf } from "./dom.js";
import { renderAnswer } from "./markdown.js";
import { openPassage, passageLabel, verifiedBadge } from "./passages.js";

// One question and its answer in the conversation.
export class Turn {
  constructor(question, { onRegenerate = null, onEdit = null } = {}) {
    this.onRegenerate = onRegenerate;
    this.onEdit = onEdit;
    this.found = 0;
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
    this.actions = el("div", { class: "turn-actions", hidden: true },
      el("button", { type: "button", class: "secondary small", text: "Copy", onclick: (e) => this.copy(e.currentTarget) }),
      el("button", { type: "button", class: "secondary small", text: "Regenerate", onclick: () => this.onRegenerate?.() }),
      el("button", { type: "button", class: "secondary small", text: "Edit", onclick: () => this.onEdit?.() }));
    this.node.append(this.status, this.reasoning, this.answer, this.error, this.notes,
      this.sources, this.meta, this.actions);
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
    this.found = passages.length;
    this.status.textContent = passages.length
      ? `Found ${passages.length} passages. Asking the model…`
      : "No passages found.";
  }

  queued(position) {
    // Other people's questions are ahead: say so, never "writing" while waiting.
    const where = position ? ` Queued: position ${position} in line` : " Queued";
    this.status.textContent = `Found ${this.found} passages.${where}, waiting for the model…`;
    this.status.dataset.state = "queued";
  }

  writing() {
    this.status.textContent = "Writing the answer…";
    this.status.dataset.state = "writing";
  }

  async copy(button) {
    try {
      if (navigator.clipboard && window.isSecureContext) await navigator.clipboard.writeText(this.text);
      else {
        // Plain http on a company network: the Clipboard API is off there.
        const area = el("textarea", { class: "visually-hidden" });
        area.value = this.text;
        document.body.append(area);
        area.select();
        document.execCommand("copy");
        area.remove();
      }
      button.textContent = "Copied";
    } catch {
      button.textContent = "Copy failed";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
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
    this.actions.hidden = false;
  }

  fail(message, detail = "") {
    this.status.remove();
    this.error.hidden = false;
    this.error.textContent = message;
    if (detail) this.error.append(el("span", { class: "error-detail", text: detail }));
    this.actions.hidden = false;
    this.actions.querySelector("button").hidden = !this.text; // nothing to copy
  }
}
