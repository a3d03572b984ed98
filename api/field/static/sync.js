// The offline queue: every action in the order it happened, each with its own Idempotency-Key,
// sent when there is a network (by itself with backoff, or by hand), one sender at a time
// across tabs (Web Locks). An item leaves the phone only once its receipt is confirmed here.
import * as api from "./api.js";
import * as db from "./db.js";
import { fromB64, fromHex, hex, sha256Hex, utf8 } from "./crypto.js";
import { leafHash, verifyCheckpoint, verifyConsistency, verifyInclusion } from "./proof.js";

export const DIRECT_UPLOAD_BYTES = 1 << 20; // larger files: announce, PUT, complete
const listeners = new Set();
let timer = null;
let backoff = 0;
export const status = { running: false, retryIn: 0, error: null, progress: { loaded: 0, total: 0 }, states: {} };

export function onChange(fn) { listeners.add(fn); return () => listeners.delete(fn); }
function changed() { for (const fn of listeners) fn(); }

export async function items() {
  return (await db.all("queue")).sort((a, b) => a.seq - b.seq);
}

// One queue item and, for a capture, its bytes, in one transaction.
export async function enqueue(item, blob) {
  const record = { ...item, key: crypto.randomUUID(), state: "waiting", created: new Date().toISOString(), attempts: 0 };
  const seq = await db.write(["queue", "blobs"], (s) => {
    const request = s.queue.add(record);
    request.onsuccess = () => { if (blob) s.blobs.put(blob, request.result); };
    return request;
  });
  changed();
  schedule(0);
  return seq;
}

function schedule(ms) {
  clearTimeout(timer);
  timer = setTimeout(() => run().catch(() => {}), ms);
}

export function kick() {
  backoff = 0;
  schedule(0);
}

let again = false;

export async function run() {
  if (!navigator.locks) return drain();
  return navigator.locks.request("fieldproof-sync", { ifAvailable: true }, async (lock) => {
    if (!lock) { again = true; return null; } // another run (this tab or another) holds it: go after it
    do { again = false; await drain(); } while (again && !status.retryIn);
    return null;
  });
}

async function save(item, changes) {
  Object.assign(item, changes);
  await db.put("queue", item);
  status.states[item.seq] = item.state; // what this session saw, readable at once (the sync screen, the bench)
  changed();
}

async function drain() {
  if (!(await api.token())) return;
  status.running = true; status.error = null; status.retryIn = 0; changed();
  try {
    // Sends go one at a time, in the order things happened; then the receipts are checked,
    // a few at a time, against one signed checkpoint that covers them all.
    for (const item of await items()) {
      if (item.state === "waiting" || item.state === "sending") await send(item);
    }
    const context = {};
    const sealedItems = (await items()).filter((i) => i.state === "sealed");
    const workers = Array.from({ length: Math.min(4, sealedItems.length) }, async () => {
      while (sealedItems.length) await confirm(sealedItems.shift(), context);
    });
    await Promise.all(workers);
    backoff = 0;
    if ((await items()).some((i) => i.state === "sealed")) later(); // a receipt waits for the ledger
  } catch (error) {
    if (!error.retryable) throw error;
    status.error = error.message;
    later();
  } finally {
    status.running = false; status.progress = { loaded: 0, total: 0 };
    changed();
  }
}

function later() {
  backoff = Math.min(backoff ? backoff * 2 : 2000, 5 * 60_000);
  const wait = backoff * (0.75 + Math.random() / 2);
  status.retryIn = Math.round(wait / 1000);
  schedule(wait);
}

async function send(item) {
  await save(item, { state: "sending", attempts: item.attempts + 1 });
  try {
    const result = await SENDERS[item.kind](item);
    await save(item, result);
  } catch (error) {
    if (error.retryable) { // back to the queue: the same key goes again
      await save(item, { state: "waiting" });
      throw error;
    }
    await save(item, { state: "refused", problem: refusal(error) });
  }
}

function refusal(error) {
  const p = error.problem || {};
  return { status: error.status, title: p.title || error.message, detail: p.detail || "", violations: p.violations || [],
    errors: p.errors || null };
}

const SENDERS = {
  async checkin(item) {
    const visit = await api.post(`/api/v1/visits/${item.visit_id}/check-in`, item.body, { key: item.key });
    await updateVisit(visit);
    return { state: "done", body: null, receipt: { check_in: visit.check_in } };
  },
  async checkout(item) {
    const visit = await api.post(`/api/v1/visits/${item.visit_id}/check-out`, item.body, { key: item.key });
    await updateVisit(visit);
    return { state: "done", body: null, receipt: { outcome: visit.outcome || item.body.outcome } };
  },
  async note(item) {
    const evidence = await api.post(`/api/v1/visits/${item.visit_id}/notes`, item.body, { key: item.key });
    return sealed(item, evidence);
  },
  photo: sendFile,
  audio: sendFile,
};

async function sendFile(item) {
  const blob = await db.get("blobs", item.seq);
  if (!blob) throw Object.assign(new Error("the captured bytes are missing on this phone"), { retryable: false });
  if (blob.size <= DIRECT_UPLOAD_BYTES || item.multipart) return postMultipart(item, blob);
  // Direct upload. Announcing again with the same key returns the same pending item.
  let started;
  try {
    started = await api.post("/api/v1/evidence/uploads", { ...item.metadata, size: blob.size }, { key: item.key });
  } catch (error) {
    // Object storage binds direct uploads to an MD5, which WebCrypto cannot make: nothing was
    // created, so the bytes go through the API's streaming upload instead (its own, stable key).
    if (error.status !== 422 || !error.problem.errors?.content_md5) throw error;
    await save(item, { multipart: true });
    return postMultipart(item, blob);
  }
  if (started.status === "sealed") return sealed(item, started);
  await save(item, { upload_id: started.id });
  if (started.upload) {
    status.progress = { loaded: 0, total: blob.size }; changed();
    await api.putWithProgress(started.upload.url, blob, started.upload.headers, (loaded, total) => {
      status.progress = { loaded, total }; changed();
    });
  }
  try {
    started = await api.post(`/api/v1/evidence/${started.id}/complete`, undefined, { key: `${item.key}.complete` });
  } catch (error) {
    if (error.status !== 409) throw error;
    started = await api.get(`/api/v1/evidence/${started.id}`);
    if (started.status !== "sealed") throw error;
  }
  return sealed(item, started);
}

async function postMultipart(item, blob) {
  const form = new FormData();
  form.append("metadata", JSON.stringify(item.metadata));
  form.append("file", blob, item.filename);
  const key = item.multipart ? `${item.key}.multipart` : item.key;
  return sealed(item, await api.call("POST", "/api/v1/evidence", { body: form, key }));
}

async function sealed(item, evidence) {
  const receipt = { evidence_id: evidence.id, sha256: evidence.sha256, signature_status: evidence.signature_status,
    status: evidence.status };
  if (evidence.sha256 !== item.sha256) {
    return { state: "mismatch", receipt, body: null };
  }
  return { state: "sealed", receipt, body: null };
}

async function updateVisit(visit) {
  const kept = await db.get("visits", visit.id);
  if (kept) await db.put("visits", { ...kept, status: visit.status, check_in: visit.check_in || kept.check_in || null });
}

// The receipt, checked on this phone: the custody leaf names our hash, its leaf hash is right,
// the checkpoint is signed by the ledger key pinned at sign-in, and the inclusion proof holds.
async function signedHead() {
  const head = await api.get("/api/v1/ledger/head");
  let key = await db.get("kv", "ledger_key");
  if (head.key_id !== key.key_id) {
    // The ledger rotated its signing key since sign-in: take the new one only under its own id
    // (the SHA-256 of its raw bytes), and keep it for the next checks.
    const fresh = await api.get(`/api/v1/ledger/public-key?key_id=${head.key_id}`);
    if (await sha256Hex(fromB64(fresh.public_key)) !== head.key_id) throw new Error("the ledger key does not match its id");
    key = { key_id: head.key_id, public_key: fresh.public_key };
    await db.put("kv", key, "ledger_key");
  }
  const checkpoint = await verifyCheckpoint(utf8(head.checkpoint), head.signature, fromB64(key.public_key));
  let problem = checkpoint.rootHash !== head.root_hash || checkpoint.treeSize !== head.tree_size
    ? "the checkpoint's fields differ from its signed body" : null;
  // The ledger only grows: the last checkpoint this phone verified must be a prefix of this one.
  const last = await db.get("kv", "last_head");
  let consistency = null;
  if (!problem && last && last.tree_size <= head.tree_size) {
    const answer = await api.get(`/api/v1/ledger/proofs/consistency?first=${last.tree_size}&second=${head.tree_size}`);
    try {
      await verifyConsistency(last.tree_size, head.tree_size, answer.proof, last.root_hash, head.root_hash);
      consistency = { first: last.tree_size, second: head.tree_size };
    } catch (error) {
      problem = `the ledger does not extend the checkpoint this phone saw (${error.code})`;
    }
  } else if (!problem && last) {
    problem = `the ledger shrank from ${last.tree_size} to ${head.tree_size} entries`;
  }
  if (!problem) await db.put("kv", { tree_size: head.tree_size, root_hash: head.root_hash }, "last_head");
  return { ...head, checkpoint, problem, consistency };
}

async function confirm(item, context) {
  const id = item.receipt.evidence_id;
  const events = await api.get(`/api/v1/evidence/${id}/custody?page_size=100`);
  const event = events.find((e) => e.type === "sealed" && e.ledger_index !== null && e.ledger_index !== undefined);
  if (!event) return; // not integrated yet: try again later
  const leafBytes = utf8(event.leaf);
  const leaf = JSON.parse(event.leaf);
  const ownHash = hex(await leafHash(leafBytes));
  const problems = [];
  if (ownHash !== event.leaf_hash) problems.push("leaf hash");
  if (leaf.sha256 !== item.sha256 || leaf.evidence_id !== id) problems.push("leaf names another item");
  if (!context.head) context.head = signedHead();
  let head = await context.head;
  if (event.ledger_index >= head.tree_size) { // newer than that checkpoint: one newer head for all
    if (!context.newer) context.newer = signedHead();
    head = await context.newer;
    if (event.ledger_index >= head.tree_size) return;
  }
  if (head.problem) problems.push(head.problem);
  const proof = await api.get(`/api/v1/ledger/proofs/inclusion?index=${event.ledger_index}&tree_size=${head.tree_size}`);
  let inclusion = "passed";
  try {
    await verifyInclusion(event.ledger_index, head.tree_size, ownHash, proof.audit_path, head.root_hash);
  } catch (error) {
    inclusion = "failed";
    problems.push(`${error.code}: ${error.message}`);
  }
  const receipt = { ...item.receipt, ledger_index: event.ledger_index, leaf_hash: ownHash, tree_size: head.tree_size,
    consistency: head.consistency,
    root_hash: head.root_hash, inclusion: problems.length ? "failed" : inclusion, problems, checked_at: new Date().toISOString() };
  if (problems.length) {
    await save(item, { state: "check_failed", receipt });
    return;
  }
  // Confirmed: the bytes and the capture details leave the phone; the receipt stays.
  item.state = "confirmed"; item.receipt = receipt; item.metadata = null; item.filename = null;
  await db.write(["queue", "blobs"], (s) => { s.queue.put(item); s.blobs.delete(item.seq); });
  status.states[item.seq] = item.state;
  changed();
}

export async function counts() {
  const all = await items();
  const count = (...states) => all.filter((i) => states.includes(i.state)).length;
  return { waiting: count("waiting"), sending: count("sending"), sealed: count("sealed", "done", "confirmed"),
    confirmed: count("confirmed"), refused: count("refused", "mismatch", "check_failed"), total: all.length };
}

export async function pendingCount() {
  return (await items()).filter((i) => !["confirmed", "done", "refused"].includes(i.state)).length;
}

export function checkSha(expected, actual) {
  return fromHex(expected).length === 32 && expected === actual;
}

export { sha256Hex };
