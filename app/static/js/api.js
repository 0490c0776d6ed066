// kura's HTTP API as the page calls it: the saved key on every request, errors as ApiError.

import { msg } from "./i18n.js";
import { markKeyInvalid, showNotice, showWelcome } from "./notices.js";

export const KEY_STORAGE = "kura.apiKey";

// detail: the server's own text, shown as sent, or the page's Message when it says it itself.
export class ApiError extends Error {
  constructor(status, detail) {
    super(String(detail));
    this.status = status;
    this.detail = detail;
  }
}

export function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

export function headers(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

function detailText(body, status) {
  const detail = body && body.detail;
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail)) {
    // FastAPI's validation errors: [{loc, msg}, ...]
    return detail.map((d) => (d && d.msg ? d.msg : JSON.stringify(d))).join("; ");
  }
  if (detail) return JSON.stringify(detail);
  return msg("error.http", { status: String(status) });
}

export async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.status === 401) {
    // No key yet is a first visit, not a mistake: the welcome panel says how to get one.
    if (!apiKey()) {
      showWelcome();
      return new ApiError(401, msg("error.key_needed"));
    }
    markKeyInvalid();
    return new ApiError(401, msg("error.key_rejected"));
  }
  return new ApiError(response.status, detailText(body, response.status));
}

export async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  } catch {
    throw new ApiError(0, msg("error.unreachable"));
  }
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return null;
  return response.json();
}

// What the page shows for an error: the server's text or the page's message, or its own
// framing around anything else.
export function errorText(error) {
  return error instanceof ApiError ? error.detail : msg("error.unexpected", { error: String(error) });
}

export function reportError(error) {
  if (error instanceof ApiError && error.status === 401 && !apiKey()) return; // the welcome panel
  showNotice(errorText(error));
}
