/* The embeddable chat widget. GET /widget.js serves this file wrapped in one function together
 * with core.js (RagCore) and the CSS of chat.css + widget.css (RAG_WIDGET_CSS), so nothing is
 * added to the host page's globals. Paste into a page:
 *
 *   <script src="http://SERVICE/widget.js" data-rag-url="http://SERVICE"
 *           data-rag-key="..." data-rag-collection="..." data-rag-title="..."></script>
 *
 * data-rag-url defaults to where widget.js came from; the others are optional. The widget lives
 * in a shadow root (its styles and the page's do not mix) and follows the page's safety rule:
 * answer and document text is only ever inserted as text.
 */
function mountRagWidget(script) {
  "use strict";
  if (!script || document.querySelector("[data-rag-widget]")) return;
  const data = script.dataset;
  const baseUrl = data.ragUrl || new URL(".", script.src || window.location.href).toString();
  const apiKey = data.ragKey || "";
  const collection = data.ragCollection || "";
  const title = data.ragTitle || "Ask the knowledge base";
  const { el } = RagCore;
  const SVG = "http://www.w3.org/2000/svg";

  function icon(...paths) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    for (const d of paths) {
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("d", d);
      svg.append(path);
    }
    return svg;
  }

  const CHAT_ICON = "M4 5h16v11H9l-5 4z";
  const CLOSE_ICON = "M6 6l12 12M18 6L6 18";

  const launcher = el("button", {
    className: "launcher",
    attrs: { type: "button", "aria-label": "Open the chat", "aria-expanded": "false" },
  });
  launcher.append(icon(CHAT_ICON));
  const newChat = el("button", {
    className: "head-btn",
    attrs: { type: "button", "aria-label": "New conversation", title: "New conversation" },
  });
  newChat.append(icon("M12 5v14M5 12h14"));
  const close = el("button", {
    className: "head-btn",
    attrs: { type: "button", "aria-label": "Close the chat", title: "Close" },
  });
  close.append(icon(CLOSE_ICON));

  const empty = el("p", { className: "empty" }, "Ask a question. Answers cite the documents they come from.");
  const log = el("div", { className: "log", attrs: { "aria-live": "polite" } }, empty);
  const scroller = el("div", { className: "scroller" }, log);
  const back = el("button", { className: "back", attrs: { type: "button" } });
  back.append(icon("M15 6l-6 6 6 6"), document.createTextNode("Back to the answer"));
  const passageBody = el("div", { className: "passage-body" });
  const passage = el(
    "div",
    { className: "passage", attrs: { hidden: true, role: "region", "aria-label": "Cited passage" } },
    el("div", { className: "passage-bar" }, back),
    passageBody,
  );
  const question = el("textarea", {
    attrs: { rows: 1, maxlength: 4000, placeholder: "Ask a question…", "aria-label": "Question" },
  });
  const send = el("button", { className: "send", attrs: { type: "submit" } }, "Send");
  const form = el("form", { className: "composer" }, question, send);
  const panel = el(
    "section",
    { className: "panel", attrs: { hidden: true, role: "dialog", "aria-label": title } },
    el("header", { className: "head" }, el("p", { className: "title" }, title), newChat, close),
    el("div", { className: "body" }, scroller, passage),
    form,
  );
  const frame = el("div", { className: "rag" }, panel, launcher);

  const host = document.createElement("div");
  host.setAttribute("data-rag-widget", "");
  const root = host.attachShadow({ mode: "open" });
  if (window.CSSStyleSheet && "adoptedStyleSheets" in root) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(RAG_WIDGET_CSS); // constructed sheets also work under a strict page CSP
    root.adoptedStyleSheets = [sheet];
  } else {
    root.append(el("style", null, RAG_WIDGET_CSS));
  }
  root.append(frame);

  let activeChip = null;
  function openPassage(item, kind, chip) {
    if (activeChip) activeChip.classList.remove("is-active");
    activeChip = chip;
    chip.classList.add("is-active");
    passageBody.replaceChildren(RagCore.passageView(item, kind));
    passage.hidden = false;
    passage.scrollTop = 0;
    back.focus({ preventScroll: true });
  }
  function closePassage() {
    passage.hidden = true;
    if (activeChip) {
      activeChip.classList.remove("is-active");
      activeChip.focus({ preventScroll: true });
      activeChip = null;
    }
  }

  const client = RagCore.createClient(baseUrl, () => apiKey);
  const conversation = new RagCore.Conversation(log, {
    client,
    scroller,
    getCollection: () => collection,
    onPassage: openPassage,
    authMessage: apiKey
      ? "The knowledge base refused this widget's API key (data-rag-key). Ask the page's owner to update it."
      : "The knowledge base needs an API key: the page's owner must set data-rag-key on the widget's script tag.",
    onAuthError() {},
    networkMessage(err) {
      const reason = err && err.message ? err.message : String(err);
      return (
        `Could not reach the knowledge base at ${baseUrl} (${reason}). If it is running, its ` +
        `RAG_CORS_ORIGINS setting must list this page's origin, ${window.location.origin}.`
      );
    },
    onBusy(busy) {
      send.textContent = busy ? "Stop" : "Send";
      send.classList.toggle("is-stop", busy);
    },
  });

  function setOpen(open) {
    panel.hidden = !open;
    frame.classList.toggle("is-open", open);
    launcher.setAttribute("aria-expanded", String(open));
    launcher.setAttribute("aria-label", open ? "Close the chat" : "Open the chat");
    launcher.replaceChildren(icon(open ? CLOSE_ICON : CHAT_ICON));
    if (open) question.focus();
  }

  function submit() {
    if (conversation.busy) {
      conversation.stop();
      return;
    }
    const text = question.value.trim();
    if (!text) return;
    question.value = "";
    empty.hidden = true;
    closePassage();
    conversation.ask(text);
  }

  launcher.addEventListener("click", () => setOpen(panel.hidden));
  close.addEventListener("click", () => setOpen(false));
  newChat.addEventListener("click", () => {
    conversation.reset();
    closePassage();
    empty.hidden = false;
    question.focus();
  });
  back.addEventListener("click", closePassage);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (!conversation.busy) submit();
    }
  });
  panel.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    if (!passage.hidden) closePassage();
    else setOpen(false);
  });

  const attach = () => document.body.append(host);
  if (document.body) attach();
  else document.addEventListener("DOMContentLoaded", attach, { once: true });
}

mountRagWidget(document.currentScript);
