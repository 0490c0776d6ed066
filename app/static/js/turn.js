// One question and its answer in the conversation: status (searching, queued, writing),
// streamed answer, sources, notes, and copy / regenerate / edit once it is done.

import { $, el, joined, langOf } from "./dom.js";
import { msg, setText } from "./i18n.js";
import { renderAnswer } from "./markdown.js";
import { openPassage, passageLabel, verifiedBadge, versionText } from "./passages.js";

// "1.2 s (retrieval 300 ms, generation 900 ms) · 812 + 95 tokens · model", as nodes.
function meta(answer) {
  const parts = [];
  const times = answer.timings;
  if (times) {
    parts.push(msg("turn.timings", {
      seconds: Math.round(times.total_ms / 100) / 10,
      retrieval: Math.round(times.retrieval_ms),
      generation: Math.round(times.generation_ms),
    }));
  }
  const u = answer.usage;
  if (u && (u.prompt_tokens || u.completion_tokens)) {
    parts.push(msg("turn.tokens", { prompt: u.prompt_tokens ?? 0, completion: u.completion_tokens ?? 0 }));
  }
  if (answer.model) parts.push(answer.model);
  return el("span", {}, ...joined(parts));
}

const action = (words, onclick) => el("button", { type: "button", class: "secondary small", text: words, onclick });

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
    this.status = el("p", { class: "status hint", text: msg("turn.searching") });
    this.reasoning = el("details", { class: "reasoning", hidden: true },
      el("summary", { text: msg("turn.reasoning") }), el("div", { class: "reasoning-text" }));
    this.answer = el("div", { class: "answer" });
    this.error = el("p", { class: "error", role: "alert", hidden: true });
    this.notes = el("div", { class: "notes" });
    this.sources = el("div", { class: "sources", hidden: true });
    this.meta = el("p", { class: "meta hint" });
    this.actions = el("div", { class: "turn-actions", hidden: true },
      action(msg("turn.copy"), (e) => this.copy(e.currentTarget)),
      action(msg("turn.regenerate"), () => this.onRegenerate?.()),
      action(msg("turn.edit"), () => this.onEdit?.()));
    this.node.append(this.status, this.reasoning, this.answer, this.error, this.notes,
      this.sources, this.meta, this.actions);
  }

  citeButton(n) {
    const p = this.passages.get(n);
    return el("button", {
      type: "button",
      class: "cite",
      "data-n": String(n),
      "aria-label": p ? msg("turn.source_label", { n, label: passageLabel(p) }) : msg("turn.source", { n }),
      text: `[${n}]`,
      onclick: (event) => openPassage(this.passages.get(n), n, event.currentTarget),
    });
  }

  showPassages(passages) {
    for (const p of passages) this.passages.set(p.n, p);
    this.renderSources();
    this.found = passages.length;
    setText(this.status, passages.length ? msg("turn.found", { count: passages.length }) : msg("turn.none_found"));
  }

  queued(position) {
    // Other people's questions are ahead: say so, never "writing" while waiting.
    const count = this.found;
    setText(this.status, position ? msg("turn.queued_at", { count, position }) : msg("turn.queued", { count }));
    this.status.dataset.state = "queued";
  }

  writing() {
    setText(this.status, msg("turn.writing"));
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
      setText(button, msg("turn.copied"));
    } catch {
      setText(button, msg("turn.copy_failed"));
    }
    setTimeout(() => setText(button, msg("turn.copy")), 2000);
  }

  sourceItem(p) {
    const extra = p.role === "reference" ? msg("turn.referred_by", { via: p.via })
      : p.role === "definition" ? msg("turn.definition_in", { via: p.via }) : null;
    const button = el("button", {
      type: "button",
      class: "source",
      onclick: (event) => openPassage(p, p.n, event.currentTarget),
    }, el("span", { class: "n", text: `[${p.n}]` }), " ", el("span", { text: passageLabel(p) }), extra && " ", extra);
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
    const heading = this.cited.size ? msg("turn.sources_cited") : msg("turn.passages_found");
    this.sources.replaceChildren(el("h3", { text: heading }),
      el("ol", { class: "source-list" }, ...shown.map((p) => this.sourceItem(p))));
    if (rest.length) {
      this.sources.append(el("details", { class: "more-sources" },
        el("summary", { text: msg("turn.more_passages", { count: rest.length }) }),
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
      this.notes.append(el("p", { class: "note", text: msg("turn.not_covered") }));
    }
    if ((answer.invalid_citations || []).length) {
      const marks = answer.invalid_citations.map((n) => `[${n}]`).join(" ");
      this.notes.append(el("p", { class: "note warn-text",
        text: msg("turn.invalid_citations", { marks }) }));
    }
    for (const note of answer.version_notes || []) {
      const version = versionText(note.version_label, note.effective_date) || msg("version.earlier");
      this.notes.append(el("details", { class: "note version-note" },
        el("summary", {}, `${note.clause} `, this.citeButton(note.n), " ",
          msg("turn.version_note", { version })),
        el("p", { class: "passage-text", lang: langOf(note.text), text: note.text })));
    }
    if (answer.finish_reason === "length") {
      this.notes.append(el("p", { class: "note warn-text", text: msg("turn.cut_off") }));
    }
    this.meta.replaceChildren(meta(answer));
    this.actions.hidden = false;
  }

  fail(message, detail = "") {
    this.status.remove();
    this.error.hidden = false;
    // The headline in a node of its own: a switch of language re-words it, not the detail.
    this.error.replaceChildren(el("span", { text: message }));
    if (detail) this.error.append(el("span", { class: "error-detail", text: detail }));
    this.actions.hidden = false;
    this.actions.querySelector("button").hidden = !this.text; // nothing to copy
  }
}
