/* The chat page's documents view: upload (drag and drop or a picker; one request per file, with
 * its upload progress and its outcome), the collection's documents, delete with confirmation,
 * and new collections (created by the first upload into a new name). Uses RagCore.el, the
 * calls of documents-api.js, and the key and collections of app.js (window.RagPage).
 *
 * Same safety rule as core.js: file names, sources and warnings reach the DOM only as text.
 */
(() => {
  "use strict";

  const NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/;
  const OUTCOMES = { added: "Added", updated: "Updated", unchanged: "Unchanged" };
  const $ = (id) => document.getElementById(id);
  const el = RagCore.el;
  const page = window.RagPage;
  const api = RagDocumentsApi.create(page.key);
  const ui = {
    toggle: $("docs-toggle"),
    view: $("docs"),
    close: $("docs-close"),
    collection: $("collection"),
    collectionName: $("docs-collection"),
    newButton: $("docs-new-collection"),
    newForm: $("docs-new-form"),
    newName: $("docs-new-name"),
    newCancel: $("docs-new-cancel"),
    drop: $("drop"),
    files: $("docs-files"),
    uploads: $("uploads"),
    status: $("docs-status"),
    table: $("docs-table"),
    rows: $("docs-rows"),
    newChat: $("new-chat"),
  };
  let queue = Promise.resolve();
  let listToken = 0;

  /** Why a call failed, in words; a 401 also opens the key prompt. */
  function failure(status, body, action) {
    if (status === 401) page.askForKey();
    return RagDocumentsApi.failure(status, body, action);
  }

  // -- uploads ---------------------------------------------------------------------------
  function sizeText(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  function uploadRow(file) {
    const bar = el("progress", { className: "upload-bar", attrs: { max: "100", value: "0" } });
    const state = el("span", { className: "upload-state" }, "Waiting");
    const row = el(
      "li",
      { className: "upload", attrs: { "data-state": "queued" } },
      el("span", { className: "upload-name", attrs: { title: file.name } }, file.name),
      el("span", { className: "upload-size" }, sizeText(file.size)),
      state,
      bar,
    );
    ui.uploads.append(row);
    return { row, bar, state, file };
  }

  function setRow(item, stateName, text, detail) {
    item.row.dataset.state = stateName;
    item.state.textContent = text;
    if (detail) item.row.append(el("p", { className: "upload-detail" }, detail));
  }

  /** added / updated / unchanged / failed, from the ingest summary of a one-file upload. */
  function outcome(body) {
    const failed = Array.isArray(body.failed) ? body.failed : [];
    if (failed.length) return { state: "failed", text: "Failed", detail: failed[0].error, source: failed[0].path };
    for (const kind of Object.keys(OUTCOMES)) {
      const sources = Array.isArray(body[kind]) ? body[kind] : [];
      if (sources.length) return { state: kind, text: OUTCOMES[kind], source: sources[0] };
    }
    return { state: "failed", text: "Failed", detail: "the server reported no outcome for this file" };
  }

  async function uploadOne(item, collection) {
    setRow(item, "uploading", "Uploading 0%");
    const { status, body } = await api.upload(item.file, collection, (fraction) => {
      const percent = Math.round(fraction * 100);
      item.bar.value = percent;
      setRow(item, fraction < 1 ? "uploading" : "processing", fraction < 1 ? `Uploading ${percent}%` : "Reading and indexing…");
    });
    item.bar.value = 100;
    // 422 with a summary: nothing went in, and the summary says why for each file.
    const summary = body && Array.isArray(body.failed);
    if (!(status === 200 || (status === 422 && summary)) || !body) {
      setRow(item, "failed", "Failed", failure(status, body, "upload documents"));
      return false;
    }
    const result = outcome(body);
    const warnings = (body.warnings && result.source && body.warnings[result.source]) || [];
    const chunks = result.state === "unchanged" || !body.chunks ? "" : ` · ${body.chunks} chunk${body.chunks === 1 ? "" : "s"}`;
    setRow(item, result.state, result.text + chunks, result.detail);
    for (const warning of warnings) item.row.append(el("p", { className: "upload-detail upload-warning" }, warning));
    return result.state !== "failed";
  }

  function addFiles(fileList) {
    const collection = ui.collection.value;
    const done = ui.uploads.querySelectorAll(".upload:not([data-state=queued], [data-state=uploading], [data-state=processing])");
    for (const row of done) row.remove(); // each drop shows its own files' outcomes
    const items = [...fileList].map(uploadRow);
    if (!items.length) return;
    queue = queue.then(async () => {
      let stored = false;
      for (const item of items) stored = (await uploadOne(item, collection)) || stored;
      // The counts changed, and a new collection exists now (keep a choice made meanwhile).
      if (stored) await page.reloadCollections(ui.collection.value === collection ? collection : undefined);
      else await refresh();
    });
  }

  // -- the list --------------------------------------------------------------------------
  function showStatus(text, kind) {
    ui.status.textContent = text;
    ui.status.className = `docs-status${kind ? ` is-${kind}` : ""}`;
  }

  function dateText(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso || "");
    return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function cell(label, ...children) {
    return el("td", { attrs: { "data-label": label } }, ...children);
  }

  function documentRow(doc, collection) {
    const name = RagCore.sourceLabel({ source: doc.source });
    const warnings = Array.isArray(doc.warnings) ? doc.warnings : [];
    const actions = el("td", { className: "doc-actions" });
    const row = el(
      "tr",
      { attrs: { "data-id": doc.id } },
      el(
        "td",
        { className: "doc-name" },
        el("span", { className: "doc-title", attrs: { title: doc.source } }, name),
        el("span", { className: "doc-source" }, doc.source),
      ),
      cell("Pages", doc.pages === null || doc.pages === undefined ? "—" : String(doc.pages)),
      cell("Chunks", String(doc.chunks)),
      cell("Added", el("time", { attrs: { datetime: doc.ingested_at } }, dateText(doc.ingested_at))),
      el(
        "td",
        { className: warnings.length ? "" : "doc-no-warnings", attrs: { "data-label": "Warnings" } },
        warnings.length
          ? el("ul", { className: "doc-warnings" }, ...warnings.map((w) => el("li", null, w)))
          : el("span", { className: "doc-none" }, "none"),
      ),
      actions,
    );
    askDelete(actions, doc, name, collection, false);
    return row;
  }

  /** The row's delete button, or (confirming) the question with Delete and Keep. */
  function askDelete(actions, doc, name, collection, confirming) {
    const button = (label, className, onClick) =>
      el("button", { className, attrs: { type: "button" }, on: { click: onClick } }, label);
    if (!confirming) {
      actions.replaceChildren(
        button("Delete", "btn btn-small doc-delete", () => askDelete(actions, doc, name, collection, true)),
      );
      return;
    }
    const yes = button("Delete", "btn btn-small btn-danger doc-confirm", () => removeDocument(doc, name, collection, actions));
    actions.replaceChildren(
      el("span", { className: "doc-question" }, `Delete ${name}?`),
      yes,
      button("Keep", "btn btn-small doc-keep", () => askDelete(actions, doc, name, collection, false)),
    );
    yes.focus();
  }

  async function removeDocument(doc, name, collection, actions) {
    const { status, body } = await api.remove(doc.id, collection);
    if (status === 200 || status === 404) {
      showStatus(status === 200 ? `Deleted ${name}.` : `${name} was already gone.`, "ok");
      await page.reloadCollections(collection);
      return;
    }
    showStatus(`Could not delete ${name}: ${failure(status, body, "delete documents")}`, "error");
    askDelete(actions, doc, name, collection, false);
  }

  function render(documents, collection) {
    ui.rows.replaceChildren(...documents.map((doc) => documentRow(doc, collection)));
    ui.table.hidden = documents.length === 0;
    if (!documents.length) showStatus("No documents in this collection yet: drop files above to add some.");
    else if (!ui.status.classList.contains("is-ok")) showStatus("");
  }

  async function refresh() {
    const collection = ui.collection.value;
    // Before the collections are listed (no key yet) the server's default one is meant.
    ui.collectionName.textContent = collection || "the default collection";
    if (ui.view.hidden) return;
    const token = ++listToken;
    const { status, body } = await api.list(collection);
    if (token !== listToken) return; // the collection changed while this was on its way
    if (status !== 200 || !body || !Array.isArray(body.documents)) {
      ui.table.hidden = true;
      showStatus(`Could not list the documents: ${failure(status, body, "list documents")}`, "error");
      return;
    }
    render(body.documents, collection);
  }

  // -- the view and new collections --------------------------------------------------------
  function open(show) {
    ui.view.hidden = !show;
    ui.toggle.setAttribute("aria-expanded", String(show));
    document.body.classList.toggle("docs-open", show);
    if (show) {
      showStatus("");
      refresh();
    }
  }

  function createCollection(name) {
    if (!NAME_RE.test(name)) {
      showStatus(`“${name}” is not a valid collection name: use 1-63 letters, digits, _ or -, starting and ending with a letter or digit.`, "error");
      return;
    }
    if (![...ui.collection.options].some((o) => o.value === name)) {
      ui.collection.append(el("option", { attrs: { value: name } }, `${name} · new`));
    }
    ui.collection.value = name;
    ui.collection.dispatchEvent(new Event("change"));
    ui.newForm.hidden = true;
    showStatus(`Collection ${name}: upload files to create it.`, "ok");
  }

  ui.toggle.addEventListener("click", () => open(ui.view.hidden));
  ui.close.addEventListener("click", () => open(false));
  ui.newChat.addEventListener("click", () => open(false));
  ui.collection.addEventListener("change", () => {
    showStatus("");
    refresh();
  });
  ui.collection.addEventListener("rag:collections", refresh);
  ui.newButton.addEventListener("click", () => {
    ui.newForm.hidden = false;
    ui.newName.value = "";
    ui.newName.focus();
  });
  ui.newCancel.addEventListener("click", () => {
    ui.newForm.hidden = true;
  });
  ui.newForm.addEventListener("submit", (event) => {
    event.preventDefault();
    createCollection(ui.newName.value.trim());
  });
  ui.files.addEventListener("change", () => {
    addFiles(ui.files.files);
    ui.files.value = "";
  });
  ui.drop.addEventListener("click", (event) => {
    if (!event.target.closest("label, input")) ui.files.click(); // the label opens it itself
  });
  for (const name of ["dragover", "drop"]) {
    // A file dropped beside the zone must not make the browser leave the page to show it.
    document.addEventListener(name, (event) => {
      if (!ui.view.hidden) event.preventDefault();
    });
  }
  for (const name of ["dragenter", "dragover"]) {
    ui.view.addEventListener(name, (event) => {
      event.preventDefault();
      ui.drop.classList.add("is-over");
    });
  }
  ui.view.addEventListener("dragleave", (event) => {
    if (!ui.view.contains(event.relatedTarget)) ui.drop.classList.remove("is-over");
  });
  ui.view.addEventListener("drop", (event) => {
    event.preventDefault();
    ui.drop.classList.remove("is-over");
    if (event.dataTransfer && event.dataTransfer.files) addFiles(event.dataTransfer.files);
  });
})();
