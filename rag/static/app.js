/* The chat page at GET /. Uses RagCore (core.js); no framework, no build step. */
(() => {
  "use strict";

  const KEY_STORE = "rag.apiKey";
  const COLLECTION_STORE = "rag.collection";
  const CHATS_STORE = "rag.chats"; // [{id, title, collection, updated, turns: [{question, done}]}]
  const MAX_CHATS = 50;
  const $ = (id) => document.getElementById(id);
  const store = {
    get(name) {
      try {
        return localStorage.getItem(name) || "";
      } catch (_) {
        return "";
      }
    },
    set(name, value) {
      try {
        if (value) localStorage.setItem(name, value);
        else localStorage.removeItem(name);
      } catch (_) {
        /* storage may be disabled; the value then lasts for this page only */
      }
    },
  };

  const ui = {
    collection: $("collection"),
    newChat: $("new-chat"),
    keyToggle: $("key-toggle"),
    keyPanel: $("key-panel"),
    keyForm: $("key-form"),
    keyInput: $("api-key"),
    keyClear: $("key-clear"),
    notice: $("notice"),
    scroller: $("scroller"),
    log: $("log"),
    empty: $("empty"),
    passage: $("passage"),
    passageBody: $("passage-body"),
    passageClose: $("passage-close"),
    form: $("ask-form"),
    question: $("question"),
    send: $("send"),
    chatList: $("chat-list"),
  };
  let apiKey = store.get(KEY_STORE);
  const client = RagCore.createClient(new URL(".", window.location.href), () => apiKey);
  const AUTH_MESSAGE =
    "This service needs an API key. Enter it under the key button (top right) and ask again.";

  function showNotice(text, kind) {
    ui.notice.textContent = text;
    ui.notice.className = `notice notice-${kind || "error"}`;
    ui.notice.hidden = !text;
  }

  function toggleKeyPanel(open) {
    ui.keyPanel.hidden = !open;
    ui.keyToggle.setAttribute("aria-expanded", String(open));
    if (open) {
      ui.keyInput.value = apiKey;
      ui.keyInput.focus();
    }
  }

  // -- passage panel ---------------------------------------------------------------------
  let activeChip = null;

  function openPassage(item, kind, chip) {
    if (activeChip) activeChip.classList.remove("is-active");
    activeChip = chip;
    chip.classList.add("is-active");
    const view = RagCore.passageView(item, kind);
    ui.passageBody.replaceChildren(view);
    RagCore.loadPassageWindow(view, client, item, ui.collection.value, 0);
    ui.passage.hidden = false;
    document.body.classList.add("passage-open");
    ui.passageClose.focus({ preventScroll: true });
  }

  function closePassage() {
    ui.passage.hidden = true;
    document.body.classList.remove("passage-open");
    if (activeChip) {
      activeChip.classList.remove("is-active");
      activeChip.focus({ preventScroll: true });
      activeChip = null;
    }
  }

  // -- saved conversations (this browser only) -----------------------------------------
  function loadChats() {
    try {
      const chats = JSON.parse(store.get(CHATS_STORE) || "[]");
      return Array.isArray(chats) ? chats.filter((c) => c && Array.isArray(c.turns)) : [];
    } catch (_) {
      return [];
    }
  }

  function saveChats(chats) {
    store.set(CHATS_STORE, chats.length ? JSON.stringify(chats.slice(0, MAX_CHATS)) : "");
  }

  let currentId = null;

  function saveTurns(turns) {
    const chats = loadChats();
    let chat = chats.find((c) => c.id === currentId);
    if (!turns.length && !chat) return;
    if (!chat) {
      currentId = `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
      chat = { id: currentId, title: turns[0].question.slice(0, 80), collection: ui.collection.value };
      chats.unshift(chat);
    }
    chat.turns = turns;
    chat.updated = new Date().toISOString();
    saveChats([chat, ...chats.filter((c) => c.id !== chat.id)]);
    renderChats();
  }

  function openChat(id) {
    const chat = loadChats().find((c) => c.id === id);
    if (!chat) return;
    closePassage();
    currentId = id;
    if (chat.collection && [...ui.collection.options].some((o) => o.value === chat.collection)) {
      ui.collection.value = chat.collection;
    }
    conversation.restore(chat.turns);
    ui.empty.hidden = chat.turns.length > 0;
    renderChats();
  }

  function newChat() {
    conversation.reset();
    currentId = null;
    closePassage();
    ui.empty.hidden = false;
    renderChats();
    ui.question.focus();
  }

  function renameChat(id) {
    const chats = loadChats();
    const chat = chats.find((c) => c.id === id);
    const title = chat ? window.prompt("Name this conversation", chat.title) : null;
    if (!chat || title === null || !title.trim()) return;
    chat.title = title.trim().slice(0, 80);
    saveChats(chats);
    renderChats();
  }

  function deleteChat(id) {
    const chats = loadChats();
    const chat = chats.find((c) => c.id === id);
    if (!chat || !window.confirm(`Delete the conversation “${chat.title}”?`)) return;
    saveChats(chats.filter((c) => c.id !== id));
    if (id === currentId) newChat();
    else renderChats();
  }

  function renderChats() {
    const button = (label, action, id, extra) =>
      RagCore.el(
        "button",
        { className: extra || "chat-action", attrs: { type: "button", "data-action": action, "data-id": id } },
        label,
      );
    ui.chatList.replaceChildren(
      ...loadChats().map((chat) =>
        RagCore.el(
          "li",
          { className: chat.id === currentId ? "chat-item is-current" : "chat-item" },
          button(chat.title || "Untitled", "open", chat.id, "chat-title"),
          button("Rename", "rename", chat.id),
          button("Delete", "delete", chat.id),
        ),
      ),
    );
  }

  ui.chatList.addEventListener("click", (event) => {
    const target = event.target.closest("button[data-action]");
    if (!target) return;
    const { action, id } = target.dataset;
    if (action === "open") openChat(id);
    else if (action === "rename") renameChat(id);
    else if (action === "delete") deleteChat(id);
  });

  // -- conversation ----------------------------------------------------------------------
  const conversation = new RagCore.Conversation(ui.log, {
    client,
    actions: true,
    onChange: saveTurns,
    scroller: ui.scroller,
    getCollection: () => ui.collection.value,
    onPassage: openPassage,
    authMessage: AUTH_MESSAGE,
    onAuthError() {
      showNotice(AUTH_MESSAGE);
      toggleKeyPanel(true);
    },
    onBusy(busy) {
      ui.send.textContent = busy ? "Stop" : "Send";
      ui.send.classList.toggle("is-stop", busy);
      ui.send.setAttribute("aria-label", busy ? "Stop the answer" : "Send the question");
    },
  });

  function submit() {
    if (conversation.busy) {
      conversation.stop();
      return;
    }
    const question = ui.question.value.trim();
    if (!question) return;
    ui.question.value = "";
    autosize();
    ui.empty.hidden = true;
    conversation.ask(question);
  }

  function autosize() {
    ui.question.style.height = "auto";
    ui.question.style.height = `${Math.min(ui.question.scrollHeight, 180)}px`;
  }

  // -- collections -----------------------------------------------------------------------
  async function loadCollections(preferred) {
    if (preferred) store.set(COLLECTION_STORE, preferred);
    let listing;
    try {
      listing = await client.collections();
    } catch (err) {
      if (err instanceof RagCore.ApiError && err.status === 401) {
        showNotice(AUTH_MESSAGE);
        toggleKeyPanel(true);
      } else {
        showNotice(`Could not list the collections: ${err.detail || err.message}`);
      }
      return;
    }
    showNotice("");
    const wanted = store.get(COLLECTION_STORE) || listing.default;
    const rows = Array.isArray(listing.collections) ? listing.collections : [];
    if (!rows.some((c) => c.name === listing.default)) {
      rows.unshift({ name: listing.default, documents: 0, chunks: 0 });
    }
    ui.collection.replaceChildren(
      ...rows.map((c) => {
        const docs = `${c.documents} doc${c.documents === 1 ? "" : "s"}`;
        return RagCore.el("option", { attrs: { value: c.name } }, `${c.name} · ${docs}`);
      }),
    );
    ui.collection.value = rows.some((c) => c.name === wanted) ? wanted : listing.default;
    ui.collection.dispatchEvent(new Event("rag:collections"));
  }

  // -- events ----------------------------------------------------------------------------
  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  ui.question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (!conversation.busy) submit();
    }
  });
  ui.question.addEventListener("input", autosize);
  ui.newChat.addEventListener("click", newChat);
  ui.collection.addEventListener("change", () => {
    store.set(COLLECTION_STORE, ui.collection.value);
    if (conversation.history.length) newChat();
  });
  ui.keyToggle.addEventListener("click", () => toggleKeyPanel(ui.keyPanel.hidden));
  ui.keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    apiKey = ui.keyInput.value.trim();
    store.set(KEY_STORE, apiKey);
    toggleKeyPanel(false);
    showNotice("");
    loadCollections();
  });
  ui.keyClear.addEventListener("click", () => {
    apiKey = "";
    store.set(KEY_STORE, "");
    ui.keyInput.value = "";
    loadCollections();
  });
  ui.passageClose.addEventListener("click", closePassage);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !ui.passage.hidden) closePassage();
  });

  // The documents view (documents.js) shares the client, the key prompt and the collections.
  window.RagPage = {
    key: () => apiKey,
    authMessage: AUTH_MESSAGE,
    askForKey() {
      showNotice(AUTH_MESSAGE);
      toggleKeyPanel(true);
    },
    reloadCollections: loadCollections,
  };

  renderChats();
  loadCollections().then(() => {
    const last = loadChats()[0];
    if (last) openChat(last.id);
  });
  ui.question.focus();
})();
