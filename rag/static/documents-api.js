/* The documents API as the documents view (documents.js) uses it: upload one file with its
 * progress, list, delete. Every call resolves to {status, body} (status 0: the service could not
 * be reached) and never rejects, so each file and row can show its own outcome.
 */
const RagDocumentsApi = (() => {
  "use strict";

  /** The API at the page's own origin; getKey() gives the key to send, if any. */
  function create(getKey) {
    const base = new URL(".", window.location.href);
    const url = (path, collection) => {
      const out = new URL(path, base);
      if (collection) out.searchParams.set("collection", collection);
      return out.toString();
    };
    const headers = () => {
      const key = (getKey() || "").trim();
      const out = { Accept: "application/json" };
      if (key) out.Authorization = `Bearer ${key}`;
      return out;
    };
    const call = async (method, path, collection) => {
      try {
        const response = await fetch(url(path, collection), { method, headers: headers() });
        return { status: response.status, body: parseJson(await response.text()) };
      } catch (_) {
        return { status: 0, body: null };
      }
    };
    return {
      list: (collection) => call("GET", "documents", collection),
      remove: (id, collection) => call("DELETE", `documents/${encodeURIComponent(id)}`, collection),
      /** POST one file; onProgress(fraction) as its bytes are sent. */
      upload(file, collection, onProgress) {
        return new Promise((resolve) => {
          const xhr = new XMLHttpRequest();
          xhr.open("POST", url("documents", collection));
          for (const [name, value] of Object.entries(headers())) xhr.setRequestHeader(name, value);
          xhr.upload.addEventListener("progress", (event) => {
            if (event.lengthComputable && event.total) onProgress(event.loaded / event.total);
          });
          xhr.upload.addEventListener("load", () => onProgress(1));
          xhr.addEventListener("load", () => resolve({ status: xhr.status, body: parseJson(xhr.responseText) }));
          xhr.addEventListener("error", () => resolve({ status: 0, body: null }));
          const form = new FormData();
          form.append("files", file, file.name);
          xhr.send(form);
        });
      },
    };
  }

  function parseJson(text) {
    try {
      return JSON.parse(text);
    } catch (_) {
      return null;
    }
  }

  /** Why a call failed, in words; a 403 is a key that may not do this (its scope). */
  function failure(status, body, action) {
    const detail = (body && (body.detail || body.title)) || "";
    if (status === 401) return `This service needs an API key to ${action}: enter it under the key button (top right).`;
    if (status === 403) return `This API key may not ${action}${detail ? ` (${detail})` : ""}.`;
    if (status === 0) return "Could not reach the service.";
    return detail ? `${detail} (${status})` : `the request failed (${status})`;
  }

  return { create, failure };
})();
