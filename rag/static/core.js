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
      async chunk(chunkId, collection, radius) {
        const params = new URLSearchParams({ radius: String(radius) });
        if (collection) params.set("collection", collection);
        const response = await fetch(url(`chunks/${encodeURIComponent(chunkId)}?${params}`), {
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

  /** `manual.pdf p. 3`, or `handbook.md › Annual leave` (the innermost section). */
  function sourceLabel(item) {
    if (item.page !== null && item.page !== undefined) {
      return `${basename(item.source)} p. ${item.page_label || item.page}`;
    }
    const section = String(item.heading || "").split(" > ").pop();
    return section ? `${basename(item.source)} › ${section}` : basename(item.source);
  }

  // -- Markdown: marked renders, DOMPurify cleans; no raw HTML, images or script links -----
  const ALLOWED_TAGS = ["p", "br", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol",
    "li", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td", "a"];
  let markdownReady = null;

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  }

  function setUpMarkdown() {
    if (markdownReady !== null) return markdownReady;
    const g = typeof globalThis !== "undefined" ? globalThis : window;
    markdownReady = Boolean(g.marked && g.DOMPurify && g.DOMPurify.isSupported);
    if (!markdownReady) return false;
    g.marked.use({
      gfm: true,
      breaks: false,
      renderer: {
        html: (token) => escapeHtml(token.text || token.raw || ""), // raw HTML shows as text
        image: (token) => escapeHtml(token.text ? `[image: ${token.text}]` : "[image]"),
      },
    });
    g.DOMPurify.addHook("afterSanitizeAttributes", (node) => {
      if (node.tagName === "A") {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer");
      }
    });
    return true;
  }

  /** Markdown as a sanitised DocumentFragment (null when the libraries are not loaded). */
  function renderMarkdown(text) {
    if (!setUpMarkdown()) return null;
    const html = globalThis.marked.parse(String(text), { async: false });
    return globalThis.DOMPurify.sanitize(html, {
      ALLOWED_TAGS,
      ALLOWED_ATTR: ["href", "title", "align"],
      ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
      RETURN_DOM_FRAGMENT: true,
    });
  }

  /** Turn `[n]` in the fragment's text (outside code) into chips. */
  function chipCitations(root, byNumber, makeChip) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const texts = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.parentElement || !node.parentElement.closest("code, pre")) texts.push(node);
    }
    for (const node of texts) {
      const parts = answerNodes(node.data, byNumber, makeChip);
      if (parts.length !== 1 || parts[0].nodeType !== Node.TEXT_NODE) node.replaceWith(...parts);
    }
    return root;
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
      el("div", { className: "passage-window" }),
    );
  }

  /** Fill a passage view's window with the whole chunk; buttons widen it to its neighbours. */
  async function loadPassageWindow(view, client, item, collection, radius) {
    const box = view.querySelector(".passage-window");
    if (!box || !item.chunk_id || !client.chunk) return;
    let window_;
    try {
      window_ = await client.chunk(item.chunk_id, collection, radius);
    } catch (_) {
      return; // the snippet stays; the whole passage is a bonus
    }
    const parts = window_.chunks.map((c) =>
      el(
        "p",
        { className: c.chunk_id === item.chunk_id ? "passage-chunk is-cited" : "passage-chunk is-neighbour" },
        softWrap(c.text),
      ),
    );
    const cited = window_.chunks.find((c) => c.chunk_id === item.chunk_id);
    const more = el(
      "button",
      { className: "btn passage-more", attrs: { type: "button" } },
      radius === 0 ? "Show the text around it" : "Show more around it",
    );
    more.addEventListener("click", () => loadPassageWindow(view, client, item, collection, radius + 1));
    const indexes = window_.chunks.map((c) => c.index);
    const total = window_.document.chunks;
    const hasMore = radius < 5 && (Math.min(...indexes) > 0 || Math.max(...indexes) < total - 1);
    box.replaceChildren(
      el("p", { className: "passage-window-title" }, radius === 0 ? "The whole passage" : "The passage and its neighbours"),
      ...parts,
      ...(hasMore ? [more] : []),
    );
    const snippet = view.querySelector(".passage-snippet");
    if (snippet && cited) snippet.hidden = true;
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
      this.turns = []; // {question, done} of each finished answer, for saving and regenerating
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
      this.turns = [];
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
      const label = kind === "candidate" ? sourceLabel(item) : `[${item.n}] ${sourceLabel(item)}`;
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
      const text = el("div", { className: "msg-text answer-text" });
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
        this.turns.push({ question, done });
        if (this.options.onChange) this.options.onChange(this.turns);
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
        const makeChip = (c) => this.chip(c, "citation", true);
        const rendered = renderMarkdown(done.answer || "");
        if (rendered) {
          text.classList.add("markdown");
          text.replaceChildren(chipCitations(rendered, byNumber, makeChip));
        } else {
          text.replaceChildren(...answerNodes(softWrap(done.answer || ""), byNumber, makeChip));
        }
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
      const meta = el("div", { className: "msg-meta" });
      if (typeof total === "number") {
        const took = total < 1000 ? `${Math.round(total)} ms` : `${(total / 1000).toFixed(1)} s`;
        meta.append(el("span", { attrs: { title: "Time to answer" } }, took));
      }
      if (this.options.actions) meta.append(...this.actions(bot, done));
      if (meta.childNodes.length) bot.append(meta);
    }

    /** Copy and regenerate buttons of a finished answer. */
    actions(bot, done) {
      const copy = el("button", { className: "msg-action", attrs: { type: "button", "data-action": "copy" } }, "Copy");
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(done.answer || "");
          copy.textContent = "Copied";
        } catch (_) {
          copy.textContent = "Copy failed";
        }
      });
      const again = el(
        "button",
        { className: "msg-action", attrs: { type: "button", "data-action": "regenerate" } },
        "Regenerate",
      );
      again.addEventListener("click", () => this.regenerate(bot));
      return [copy, again];
    }

    /** Ask the turn of this answer again, dropping it and every later turn. */
    regenerate(bot) {
      if (this.busy) return;
      const bots = [...this.log.querySelectorAll(".msg-bot")];
      const at = bots.indexOf(bot);
      if (at < 0 || at >= this.turns.length) return;
      const question = this.turns[at].question;
      const first = bot.previousElementSibling || bot;
      const later = [...this.log.querySelectorAll(".msg, .log-note")].filter(
        (node) => node === first || first.compareDocumentPosition(node) & Node.DOCUMENT_POSITION_FOLLOWING,
      );
      for (const node of later) node.remove();
      this.turns = this.turns.slice(0, at);
      this.history = this.history.slice(0, at * 2);
      if (this.options.onChange) this.options.onChange(this.turns);
      this.ask(question);
    }

    /** Show saved turns ({question, done}) as finished messages and resume from them. */
    restore(turns) {
      this.reset();
      for (const turn of turns) {
        const text = el("div", { className: "msg-text answer-text" });
        const bot = el("article", { className: "msg msg-bot" }, text);
        this.log.append(el("article", { className: "msg msg-user" }, el("p", { className: "msg-text" }, turn.question)), bot);
        this.finish(bot, text, turn.done);
        this.turns.push(turn);
        this.history.push({ role: "user", content: turn.question }, { role: "assistant", content: turn.done.answer || "" });
      }
      this.scroll(true);
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

  return {
    ApiError,
    Conversation,
    createClient,
    el,
    loadPassageWindow,
    passageView,
    readEvents,
    renderMarkdown,
    sourceLabel,
  };
})();
