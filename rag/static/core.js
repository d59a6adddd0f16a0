/* Shared by the chat page (/) and the embeddable widget (/widget.js): the API client, the
 * NDJSON stream reader and the conversation view.
 *
 * Safety rule: text from answers and documents only ever reaches the DOM through
 * document.createTextNode / textContent. Nothing here assigns innerHTML or builds HTML strings.
 */
const RagCore = (() => {
  "use strict";

  const MAX_HISTORY = 20; // previous messages sent with a question (10 turns)
  const CITE_RE = /\[(\s*\d{1,3}(?:\s*[,;\-–—]\s*\d{1,3})*\s*)\]/g;
  const REASONS = {
    no_documents: "This collection has no documents yet.",
    nothing_relevant: "Nothing in the knowledge base matches this question.",
    model_declined: "The passages found do not answer this question.",
  };

  /** el("p", {className, attrs, on}, child...): children that are strings become text nodes. */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    const p = props || {};
    if (p.className) node.className = p.className;
    for (const [name, value] of Object.entries(p.attrs || {})) {
      if (value !== null && value !== undefined && value !== false) {
        node.setAttribute(name, value === true ? "" : String(value));
      }
    }
    for (const [name, handler] of Object.entries(p.on || {})) node.addEventListener(name, handler);
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  class ApiError extends Error {
    constructor(status, title, detail) {
      super(detail || title || `HTTP ${status}`);
      this.status = status;
      this.title = title || "";
      this.detail = detail || "";
    }
  }

  /** Read an NDJSON body, calling onEvent for each JSON line as it arrives. */
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    const flush = (final) => {
      let nl = buffer.indexOf("\n");
      while (nl >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line) onEvent(JSON.parse(line));
        nl = buffer.indexOf("\n");
      }
      if (final && buffer.trim()) onEvent(JSON.parse(buffer));
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      flush(false);
    }
    buffer += decoder.decode();
    flush(true);
  }

  /** The HTTP API at baseUrl; getKey() gives the API key to send, if any. */
  function createClient(baseUrl, getKey) {
    const base = String(baseUrl).endsWith("/") ? String(baseUrl) : `${baseUrl}/`;
    const url = (path) => new URL(path, base).toString();
    const headers = (extra) => {
      const out = { ...extra };
      const key = (getKey() || "").trim();
      if (key) out.Authorization = `Bearer ${key}`;
      return out;
    };
    const fail = async (response) => {
      let body = null;
      try {
        body = await response.json();
      } catch (_) {
        body = null;
      }
      const title = (body && body.title) || response.statusText;
      throw new ApiError(response.status, title, body && body.detail);
    };
    return {
      async collections() {
        const response = await fetch(url("collections"), {
          headers: headers({ Accept: "application/json" }),
        });
        if (!response.ok) await fail(response);
        return response.json();
      },
      async ask(body, onEvent, signal) {
        const response = await fetch(url("ask"), {
          method: "POST",
          headers: headers({ "Content-Type": "application/json", Accept: "application/x-ndjson" }),
          body: JSON.stringify({ ...body, stream: true }),
          signal,
        });
        if (!response.ok) await fail(response);
        await readEvents(response, onEvent);
      },
    };
  }

  /** `1, 3` → [1, 3]; `1-3` → [1, 2, 3] (as the server reads a citation). */
  function citationNumbers(body) {
    const numbers = [];
    for (const part of body.split(/[,;]/)) {
      const bounds = part
        .split(/[-–—]/)
        .map((b) => b.trim())
        .filter(Boolean)
        .map(Number);
      if (bounds.length === 2 && bounds[0] <= bounds[1] && bounds[1] <= bounds[0] + 50) {
        for (let n = bounds[0]; n <= bounds[1]; n += 1) numbers.push(n);
      } else {
        numbers.push(...bounds);
      }
    }
    return numbers;
  }

  /** Join hard-wrapped lines as Markdown does; keep blank lines, list items and headings. */
  function softWrap(text) {
    return String(text).replace(/([^\n])[ \t]*\n(?![ \t]*(?:\n|[-*•+#>|]|\d+[.)][ \t]))[ \t]*/g, "$1 ");
  }

  function basename(source) {
    const parts = String(source || "").split(/[\\/]/);
    return parts[parts.length - 1] || String(source || "");
  }

  function pageText(item) {
    if (item.page === null || item.page === undefined) return "";
    const label = item.page_label;
    if (label && String(label) !== String(item.page)) return `${label} (page ${item.page})`;
    return String(item.page);
  }

  function sourceLabel(item) {
    const page = item.page === null || item.page === undefined ? "" : ` · p. ${item.page_label || item.page}`;
    return `${basename(item.source)}${page}`;
  }

  /** The cited passage: source, page, section and the snippet, all as text. */
  function passageView(item, kind) {
    const title = kind === "candidate" ? "Closest passage" : `Source [${item.n}]`;
    const rows = [];
    const row = (name, value) => {
      if (value) rows.push(el("dt", null, name), el("dd", null, value));
    };
    row("Document", item.source);
    row("Page", pageText(item));
    row("Section", item.heading);
    const text = item.snippet || item.text || "";
    return el(
      "div",
      { className: "passage-view" },
      el("p", { className: "passage-kicker" }, title),
      el("h2", { className: "passage-source", attrs: { title: item.source } }, basename(item.source)),
      el("dl", { className: "passage-meta" }, ...rows),
      el("blockquote", { className: "passage-snippet" }, softWrap(text)),
    );
  }

  /** Answer text with each valid `[n]` turned into a chip button. */
  function answerNodes(answer, byNumber, makeChip) {
    const nodes = [];
    let last = 0;
    for (const match of answer.matchAll(CITE_RE)) {
      const numbers = citationNumbers(match[1]).filter((n) => byNumber.has(n));
      if (!numbers.length) continue;
      const before = answer.slice(last, match.index).replace(/[ \t]+$/, "");
      if (before) nodes.push(document.createTextNode(before));
      for (const n of numbers) nodes.push(makeChip(byNumber.get(n), true));
      last = match.index + match[0].length;
    }
    if (last < answer.length) nodes.push(document.createTextNode(answer.slice(last)));
    return nodes;
  }

  /**
   * A conversation in `log`: sends questions with the previous turns, streams the answer into
   * the page and turns it into text with citation chips when the done event arrives.
   * options: client, getCollection(), onPassage(item, kind, chip), onAuthError(), onBusy(bool),
   * authMessage (text of the 401 notice), networkMessage(err) (optional), scroller (the element
   * that scrolls, default log).
   */
  class Conversation {
    constructor(log, options) {
      this.log = log;
      this.options = options;
      this.history = [];
      this.controller = null;
      this.follow = true; // keep the newest text in view until the reader scrolls up
      const box = options.scroller || log;
      box.addEventListener(
        "scroll",
        () => {
          this.follow = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
        },
        { passive: true },
      );
    }

    get busy() {
      return this.controller !== null;
    }

    reset() {
      this.stop();
      this.history = [];
      for (const node of [...this.log.querySelectorAll(".msg, .log-note")]) node.remove();
    }

    stop() {
      if (this.controller) this.controller.abort();
    }

    note(text) {
      this.log.append(el("p", { className: "log-note" }, text));
      this.scroll(true);
    }

    scroll(force) {
      const box = this.options.scroller || this.log;
      if (force) this.follow = true;
      if (this.follow) box.scrollTop = box.scrollHeight;
    }

    chip(item, kind, inline) {
      let label = `[${item.n}] ${sourceLabel(item)}`;
      if (kind === "candidate") {
        // Several candidates often share a document: the section tells them apart.
        const section = String(item.heading || "").split(" > ").pop();
        label = item.page === null && section ? `${sourceLabel(item)} · ${section}` : sourceLabel(item);
      }
      const button = el(
        "button",
        {
          className: inline ? "cite" : "chip",
          attrs: {
            type: "button",
            "data-n": kind === "candidate" ? null : item.n,
            "aria-label": `Open ${kind === "candidate" ? "passage" : `source ${item.n}`}: ${sourceLabel(item)}`,
            title: item.source,
          },
        },
        inline ? String(item.n) : label,
      );
      button.addEventListener("click", () => this.options.onPassage(item, kind, button));
      return button;
    }

    async ask(question) {
      const collection = this.options.getCollection();
      const user = el("article", { className: "msg msg-user" }, el("p", { className: "msg-text" }, question));
      const status = el("p", { className: "msg-status" }, el("span", { className: "dots" }), "Searching the knowledge base");
      const text = el("p", { className: "msg-text answer-text" });
      const bot = el(
        "article",
        { className: "msg msg-bot", attrs: { "data-state": "waiting", "aria-busy": "true" } },
        status,
        text,
      );
      this.log.append(user, bot);
      this.scroll(true);

      const controller = new AbortController();
      this.controller = controller;
      this.options.onBusy(true);
      let streamed = "";
      let done = null;
      const body = { question, messages: this.history.slice(-MAX_HISTORY) };
      if (collection) body.collection = collection;
      try {
        await this.options.client.ask(
          body,
          (event) => {
            if (event.type === "retrieval") {
              bot.dataset.state = "generating";
              status.lastChild.textContent = "Writing the answer";
            } else if (event.type === "token") {
              if (!streamed) status.remove();
              bot.dataset.state = "streaming";
              streamed += event.text;
              text.textContent = softWrap(streamed);
              this.scroll(false);
            } else if (event.type === "done") {
              done = event;
            } else if (event.type === "error") {
              throw new ApiError(event.status, event.title, event.detail);
            }
          },
          controller.signal,
        );
        if (!done) throw new ApiError(0, "Incomplete answer", "the answer stream ended early");
        status.remove();
        this.finish(bot, text, done);
        this.history.push({ role: "user", content: question }, { role: "assistant", content: done.answer });
      } catch (err) {
        status.remove();
        this.fail(bot, err, controller.signal.aborted);
      } finally {
        bot.removeAttribute("aria-busy");
        if (this.controller === controller) this.controller = null;
        this.options.onBusy(false);
        this.scroll(false);
      }
    }

    finish(bot, text, done) {
      bot.dataset.state = "done";
      const citations = Array.isArray(done.citations) ? done.citations : [];
      if (done.answerable) {
        const byNumber = new Map(citations.map((c) => [c.n, c]));
        text.replaceChildren(...answerNodes(softWrap(done.answer || ""), byNumber, (c) => this.chip(c, "citation", true)));
        if (citations.length) {
          bot.append(
            el(
              "div",
              { className: "msg-sources" },
              el("span", { className: "msg-sources-title" }, "Sources"),
              ...citations.map((c) => this.chip(c, "citation", false)),
            ),
          );
        }
      } else {
        bot.classList.add("is-refusal");
        bot.prepend(el("p", { className: "msg-badge" }, "Not in the knowledge base"));
        text.textContent = softWrap(done.answer || "");
        const reason = REASONS[done.reason];
        if (reason) bot.append(el("p", { className: "msg-reason" }, reason));
        const candidates = (Array.isArray(done.candidates) ? done.candidates : []).slice(0, 3);
        if (candidates.length) {
          bot.append(
            el(
              "div",
              { className: "msg-sources" },
              el("span", { className: "msg-sources-title" }, "Closest passages"),
              ...candidates.map((c) => this.chip(c, "candidate", false)),
            ),
          );
        }
      }
      const total = done.timings && done.timings.total;
      if (typeof total === "number") {
        const took = total < 1000 ? `${Math.round(total)} ms` : `${(total / 1000).toFixed(1)} s`;
        bot.append(el("p", { className: "msg-meta", attrs: { title: "Time to answer" } }, took));
      }
    }

    fail(bot, err, aborted) {
      bot.dataset.state = "error";
      bot.classList.add("is-error");
      let message;
      if (aborted) {
        bot.classList.replace("is-error", "is-stopped");
        message = "Stopped.";
      } else if (err instanceof ApiError && err.status === 401) {
        message = this.options.authMessage;
        this.options.onAuthError();
      } else if (err instanceof ApiError && err.status) {
        message = `${err.title || "Error"} (${err.status}): ${err.detail || "the request failed"}`;
      } else if (err instanceof ApiError) {
        message = `${err.title}: ${err.detail}`;
      } else if (this.options.networkMessage) {
        message = this.options.networkMessage(err);
      } else {
        message = `Could not reach the service (${err && err.message ? err.message : err}).`;
      }
      bot.append(el("p", { className: "msg-error", attrs: { role: "alert" } }, message));
    }
  }

  return { ApiError, Conversation, createClient, el, passageView, readEvents, sourceLabel };
})();
