// Bytes, hashes and signatures with WebCrypto; RFC 8785 canonical JSON for the signed payload.
const enc = new TextEncoder();

export const utf8 = (text) => enc.encode(text);

export function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text) {
  if (typeof text !== "string" || text.length % 2 || !/^[0-9a-f]*$/.test(text)) throw new Error("not lowercase hex");
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}

export function b64(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s);
}

// Strict standard base64: canonical padding and trailing bits, or an error.
export function fromB64(text) {
  if (typeof text !== "string" || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
    throw new Error("not canonical base64");
  }
  const raw = atob(text);
  const out = Uint8Array.from(raw, (c) => c.charCodeAt(0));
  if (b64(out) !== text) throw new Error("not canonical base64");
  return out;
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

export async function sha256Hex(bytes) {
  return hex(await sha256(bytes));
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

// RFC 8785: keys sorted by UTF-16 code units, ECMAScript number and string serialisation.
export function canonicalJSON(value) {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error("JCS has no NaN or Infinity");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJSON).join(",")}]`;
  if (typeof value === "object") {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJSON(value[k])}`).join(",")}}`;
  }
  throw new Error(`JCS cannot encode ${typeof value}`);
}

// The exact bytes the server rebuilds and verifies (evidence/signatures.py: signed_payload).
export function capturePayload({ sha256, captured_at, lat, lon, visit_id }) {
  return utf8(canonicalJSON({ sha256: sha256.toLowerCase(), captured_at, lat, lon, visit_id }));
}

export async function newDeviceKey() {
  // Non-extractable private key; the public half is always exportable.
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { privateKey: pair.privateKey, publicKey: pair.publicKey, publicRaw: b64(raw) };
}

export async function sign(privateKey, bytes) {
  return b64(new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, privateKey, bytes)));
}

export async function importVerifyKey(rawBytes) {
  return crypto.subtle.importKey("raw", rawBytes, { name: "Ed25519" }, false, ["verify"]);
}

export async function verify(publicKey, signature, bytes) {
  return crypto.subtle.verify({ name: "Ed25519" }, publicKey, signature, bytes);
}

export function uuid() {
  return crypto.randomUUID();
}
