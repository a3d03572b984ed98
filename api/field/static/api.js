// The public HTTP API, nothing else. Personal data never goes into a URL: only opaque ids.
import * as db from "./db.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  // Worth trying again later (the server or the network), rather than a refusal to show.
  get retryable() {
    return this.status >= 500 || this.status === 429 || this.status === 401 || this.status === 408 ||
      (this.status === 409 && /in progress/i.test(this.problem.detail || ""));
  }
}

export class NetworkError extends Error {
  get retryable() { return true; }
}

export async function token() {
  return db.get("kv", "token");
}

export async function call(method, path, { json, body, headers = {}, key, raw = false, auth = true } = {}) {
  const h = { Accept: "application/json", ...headers };
  if (auth) {
    const bearer = await token();
    if (bearer) h.Authorization = `Bearer ${bearer}`;
  }
  if (key) h["Idempotency-Key"] = key;
  if (json !== undefined) { h["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  let response;
  try {
    response = await fetch(path, { method, headers: h, body, cache: "no-store", credentials: "omit" });
  } catch (error) {
    throw new NetworkError(error.message || "network unreachable");
  }
  if (!response.ok) {
    // The session ended (expired or revoked): the app asks to sign in again; nothing queued is lost.
    if (response.status === 401 && auth) window.dispatchEvent(new CustomEvent("fieldproof:unauthorized"));
    let problem = null;
    try { problem = await response.json(); } catch { /* not JSON */ }
    throw new ApiError(response.status, problem);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path, opts) => call("GET", path, opts);
export const post = (path, json, opts = {}) => call("POST", path, { ...opts, json });

// A PUT with upload progress (fetch has none): XMLHttpRequest, on the same origin.
export function putWithProgress(url, blob, headers, onProgress) {
  return token().then((bearer) => new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    const sameOrigin = new URL(url, location.href).origin === location.origin;
    if (sameOrigin && bearer) xhr.setRequestHeader("Authorization", `Bearer ${bearer}`);
    for (const [name, value] of Object.entries(headers || {})) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress?.(event.loaded, event.total);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      let problem = null;
      try { problem = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      reject(new ApiError(xhr.status, problem));
    };
    xhr.onerror = () => reject(new NetworkError("upload interrupted"));
    xhr.onabort = () => reject(new NetworkError("upload aborted"));
    xhr.send(blob);
  }));
}
