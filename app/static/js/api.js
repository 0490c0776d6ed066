// kura's HTTP API as the page calls it: the saved key on every request, errors as ApiError.

import { markKeyInvalid, showNotice, showWelcome } from "./notices.js";

export const KEY_STORAGE = "kura.apiKey";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
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
  return `The server answered HTTP ${status}.`;
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
      return new ApiError(401, "kura needs an API key: ask your administrator for one.");
    }
    markKeyInvalid();
    return new ApiError(401, "This API key was rejected. Enter a valid API key.");
  }
  return new ApiError(response.status, detailText(body, response.status));
}

export async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  } catch {
    throw new ApiError(0, "Cannot reach kura. Is the server running?");
  }
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return null;
  return response.json();
}

export function reportError(error) {
  if (error instanceof ApiError && error.status === 401 && !apiKey()) return; // the welcome panel
  showNotice(error instanceof ApiError ? error.message : `Something went wrong: ${error}`);
}
