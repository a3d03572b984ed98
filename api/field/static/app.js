// The collector's app: screens, sign-in and device key, today's route, check-in, capture, check-out.
import * as api from "./api.js";
import * as db from "./db.js";
import { capturePayload, fromB64, hex, newDeviceKey, sha256, sha256Hex, sign, utf8 } from "./crypto.js";
import { current, setLanguage, t, has } from "./i18n.js";
import * as sync from "./sync.js";

const $ = (id) => document.getElementById(id);
const GEOFENCE_M = 100;
const ACCURACY_CREDIT_M = 50;
const OUTCOMES = ["met_debtor", "not_home", "refused", "third_party_only", "promise_to_pay", "payment_received",
  "address_invalid"];
const state = { signedIn: false, screen: null, visitId: null, fix: null, captureKind: null, capture: null, signOutArmed: false };

// --- small helpers -------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value; else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function pad(n) { return String(n).padStart(2, "0"); }

// RFC 3339 with the phone's own offset, as the phone saw the moment (signed exactly as sent).
export function localIso(date = new Date()) {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:` +
    `${pad(date.getMinutes())}:${pad(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, "0")}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

function localDate(date = new Date()) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

export function distanceM(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.sqrt(h));
}

function formatDistance(m) {
  return m >= 1000 ? `${(m / 1000).toFixed(1)} km` : `${Math.round(m)} m`;
}

function formatSize(bytes) {
  return bytes >= 1 << 20 ? t("size_mb", { n: (bytes / (1 << 20)).toFixed(1) }) : t("size_kb", { n: Math.max(1, Math.round(bytes / 1024)) });
}

function age(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return t("seconds", { n: s });
  if (s < 3600) return t("minutes", { n: Math.round(s / 60) });
  if (s < 86400) return t("hours", { n: Math.round(s / 3600) });
  return t("days", { n: Math.round(s / 86400) });
}

function windowText(visit) {
  const fmt = new Intl.DateTimeFormat(current(), { hour: "2-digit", minute: "2-digit", timeZone: visit.time_zone, hourCycle: "h23" });
  return `${fmt.format(new Date(visit.window_start))}–${fmt.format(new Date(visit.window_end))} (${t("local_time")}, ${visit.time_zone})`;
}

function show(screen) {
  state.screen = screen;
  for (const section of document.querySelectorAll(".screen")) section.hidden = section.id !== `screen-${screen}`;
  $("booting").hidden = true;
  $("tabs").hidden = screen === "signin";
  for (const tab of document.querySelectorAll("#tabs button")) tab.classList.toggle("active", tab.dataset.screen === screen);
  document.body.dataset.screen = screen;
  draw();
}

function showError(id, text) {
  $(id).textContent = text || "";
  $(id).hidden = !text;
}

function refusalBlock(problem) {
  const box = el("div", { class: "refusal", role: "alert" }, el("strong", {}, t("refused_title")));
  for (const v of problem.violations || []) {
    const title = has(`rule_${v.rule}`) ? t(`rule_${v.rule}`) : v.rule;
    box.append(el("p", { class: "rule" }, `${t("rule")}: ${title} (${v.rule})`), el("p", { class: "reason" }, v.detail || ""));
  }
  if (!(problem.violations || []).length) box.append(el("p", { class: "reason" }, problem.detail || problem.title || ""));
  return box;
}

// --- position ------------------------------------------------------------------------------------

function fromPosition(p) {
  return { lat: p.coords.latitude, lon: p.coords.longitude, accuracy_m: p.coords.accuracy, at: p.timestamp, received: Date.now() };
}

// One high-accuracy watch for the whole session: its latest position is the phone's position now
// (it reports every movement). A new fix on demand restarts it and waits for its first report.
let watchId = null;

function watchPosition() {
  if (!navigator.geolocation) return Promise.reject(new Error("no geolocation"));
  if (watchId !== null) navigator.geolocation.clearWatch(watchId);
  return new Promise((resolve, reject) => {
    watchId = navigator.geolocation.watchPosition((p) => {
      state.fix = fromPosition(p);
      resolve(state.fix);
      if (state.screen === "today") render();
    }, (e) => reject(new Error(e.message || "position unavailable")), { enableHighAccuracy: true, maximumAge: 0, timeout: 20000 });
  });
}

async function freshFix() {
  return state.fix || watchPosition();
}

// --- sign in, device key, sign out ---------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  showError("signin-error", "");
  $("signin-button").disabled = true;
  try {
    const answer = await api.post("/api/v1/auth/tokens", { username: $("username").value.trim(), password: $("password").value },
      { auth: false });
    // A phone that still holds someone else's unsent work is not handed to another collector.
    const previous = (await db.exists()) ? await db.get("kv", "user") : null;
    if (previous && previous.id !== answer.user.id) {
      if (await sync.pendingCount()) {
        await api.call("DELETE", "/api/v1/auth/tokens/current", { headers: { Authorization: `Bearer ${answer.access_token}` }, auth: false })
          .catch(() => {});
        throw new Error(t("other_collector", { name: previous.username }));
      }
      await db.wipe();
      location.reload();
      return;
    }
    await db.put("kv", answer.access_token, "token");
    state.signedIn = true;
    await db.put("kv", { id: answer.user.id, username: answer.user.username, role: answer.user.role }, "user");
    $("password").value = "";
    await ensureDevice();
    await pinLedgerKey();
    await refreshToday();
    state.reauth = false;
    $("signin-note").hidden = true;
    show("today");
    sync.kick();
  } catch (error) {
    if (state.signedIn && !state.reauth) {
      await db.del("kv", "token").catch(() => {});
      state.signedIn = false;
    }
    showError("signin-error", error instanceof api.NetworkError ? t("signin_offline")
      : error.status === 429 ? t("signin_limited") : error.status === 401 ? t("signin_failed") : error.message);
  } finally {
    $("signin-button").disabled = false;
  }
}

async function ensureDevice() {
  if (await db.get("kv", "device")) return;
  const key = await newDeviceKey();
  const device = await api.post("/api/v1/devices", { label: "FieldProof app", public_key: key.publicRaw });
  // The private key is a non-extractable CryptoKey: IndexedDB keeps the handle, never the bytes.
  await db.put("kv", { id: device.id, privateKey: key.privateKey, public_key: key.publicRaw }, "device");
}

async function pinLedgerKey() {
  const key = await api.get("/api/v1/ledger/public-key");
  const raw = fromB64(key.public_key);
  if (hex(await sha256(raw)) !== key.key_id) throw new Error("the ledger key does not match its key id");
  await db.put("kv", { key_id: key.key_id, public_key: key.public_key }, "ledger_key");
}

async function signOut() {
  const pending = await sync.pendingCount();
  if (pending && !state.signOutArmed) {
    state.signOutArmed = true;
    showError("signout-warning", t("signout_pending", { n: pending }));
    return;
  }
  try { await api.call("DELETE", "/api/v1/auth/tokens/current"); } catch { /* offline: the token expires by itself */ }
  await db.wipe();
  location.replace("/field/");
}

// --- today ---------------------------------------------------------------------------------------

async function refreshToday() {
  const user = await db.get("kv", "user");
  const day = localDate();
  const route = await api.get(`/api/v1/collectors/${user.id}/route?date=${day}`);
  const visits = await api.get(`/api/v1/visits?collector_id=${user.id}&date=${day}&page_size=100`);
  const cases = new Map();
  for (const visit of visits) {
    if (!cases.has(visit.case_id)) cases.set(visit.case_id, await api.get(`/api/v1/cases/${visit.case_id}`));
  }
  const order = new Map(route.stops.map((s) => [s.visit_id, s]));
  // Only what the visit needs: the reference, the address, the window. No names, ids or card numbers.
  const kept = visits.filter((v) => v.status !== "cancelled").map((v) => {
    const c = cases.get(v.case_id);
    const address = c.addresses.find((a) => a.id === v.address_id) || {};
    const stop = order.get(v.id);
    return { id: v.id, order: stop ? stop.order : 999, reference: c.reference, currency: c.currency,
      address: { line: address.line, city: address.city, kind: address.kind, lat: address.lat, lon: address.lon },
      window_start: v.window_start, window_end: v.window_end, time_zone: v.time_zone, status: v.status,
      check_in: v.check_in ? { distance_m: v.check_in.distance_m, within_geofence: v.check_in.within_geofence } : null,
      arrival_estimate: stop ? stop.arrival_estimate : null };
  });
  await db.replaceAll("visits", kept);
  await db.put("kv", Date.now(), "last_sync");
}

async function visitsInOrder() {
  return (await db.all("visits")).sort((a, b) => a.order - b.order);
}

async function localStatus(visit, queue) {
  const mine = queue.filter((i) => i.visit_id === visit.id);
  if (mine.some((i) => i.kind === "checkout" && i.state !== "refused")) return "completed";
  if (mine.some((i) => i.kind === "checkin" && i.state !== "refused")) return visit.status === "scheduled" ? "checked_in" : visit.status;
  return visit.status;
}

async function renderToday() {
  const last = await db.get("kv", "last_sync");
  $("sync-age").textContent = last ? t("synced_ago", { age: age(Date.now() - last) }) : t("never_synced");
  const visits = await visitsInOrder();
  const queue = await sync.items();
  $("no-visits").hidden = visits.length > 0;
  const list = $("visit-list");
  list.replaceChildren();
  for (const visit of visits) {
    const status = await localStatus(visit, queue);
    const a = visit.address;
    const distance = state.fix && a.lat != null ? formatDistance(distanceM(state.fix, a)) : "—";
    list.append(el("li", { class: "card visit", "data-visit": visit.id },
      el("button", { class: "open-visit", onclick: () => openVisit(visit.id) },
        el("span", { class: "order" }, String(visit.order)),
        el("span", { class: "address" }, `${a.line}, ${a.city}`),
        el("span", { class: "window" }, `${t("window")} ${windowText(visit)}`),
        el("span", { class: "distance" }, `${t("distance")} ${distance}`),
        el("span", { class: `status status-${status}` }, t(`state_${status}`))),
      el("a", { class: "maps", href: `geo:${a.lat},${a.lon}?q=${a.lat},${a.lon}` }, t("open_maps"))));
  }
}

// --- one visit -----------------------------------------------------------------------------------

async function openVisit(id) {
  state.visitId = id;
  show("visit");
}

async function currentVisit() {
  return db.get("visits", state.visitId);
}

function itemLine(item) {
  const li = el("li", { class: `item item-${item.state}`, "data-seq": item.seq, "data-kind": item.kind });
  li.append(el("strong", {}, t(`kind_${item.kind}`)), " · ",
    el("span", { class: "state" }, t({ waiting: "waiting", sending: "sending", sealed: "sealed", done: "sealed",
      confirmed: "confirmed", refused: "refused", mismatch: "mismatch", check_failed: "check_failed" }[item.state] || item.state)));
  if (item.progress) li.append(" ", String(item.progress));
  const r = item.receipt;
  if (r && r.evidence_id) {
    li.append(el("p", { class: "receipt" }, t("receipt", { id: r.evidence_id.slice(0, 8), sha: r.sha256.slice(0, 12),
      sig: t(`sig_${r.signature_status}`), index: r.ledger_index ?? "…" })));
    if (item.state === "mismatch") li.append(el("p", { class: "error loud" }, t("sha_mismatch", { server: r.sha256, phone: item.sha256 })));
    if (item.state === "confirmed") li.append(el("p", { class: "ok" }, t("receipt_ok", { size: r.tree_size })));
    if (item.state === "check_failed") li.append(el("p", { class: "error loud" }, t("receipt_bad", { why: (r.problems || []).join("; ") })));
  }
  if (item.state === "refused" && item.problem) li.append(refusalBlock(item.problem));
  return li;
}

async function renderVisit() {
  const visit = await currentVisit();
  if (!visit) return show("today");
  const queue = await sync.items();
  const status = await localStatus(visit, queue);
  $("visit-head").replaceChildren(
    el("p", { class: "address" }, `${visit.order}. ${visit.address.line}, ${visit.address.city}`),
    el("p", {}, `${t("window")} ${windowText(visit)}`),
    el("p", { class: `status status-${status}` }, t(`state_${status}`)),
    el("a", { class: "maps", href: `geo:${visit.address.lat},${visit.address.lon}?q=${visit.address.lat},${visit.address.lon}` }, t("open_maps")));
  $("visit-items").replaceChildren(...queue.filter((i) => i.visit_id === visit.id).map(itemLine));
  $("go-checkin").disabled = status !== "scheduled";
  $("go-checkout").disabled = status !== "checked_in";
  for (const id of ["go-photo", "go-audio", "go-note"]) $(id).disabled = status === "scheduled" || status === "cancelled";
}

// --- check in ------------------------------------------------------------------------------------

async function openCheckIn() {
  const visit = await currentVisit();
  $("checkin-address").replaceChildren(
    el("p", { class: "address" }, `${visit.order}. ${visit.address.line}, ${visit.address.city}`),
    el("p", { class: "muted" }, `${t("window")} ${windowText(visit)}`));
  show("checkin");
  await locate();
}

async function locate() {
  const visit = await currentVisit();
  $("send-checkin").disabled = true;
  $("geofence").textContent = t("locating");
  $("geofence").className = "verdict";
  try {
    const fix = await freshFix();
    const distance = distanceM(fix, visit.address);
    const inside = distance - Math.min(fix.accuracy_m, ACCURACY_CREDIT_M) <= GEOFENCE_M;
    $("fix").replaceChildren(
      el("dt", {}, t("position")), el("dd", {}, `${fix.lat.toFixed(5)}, ${fix.lon.toFixed(5)}`),
      el("dt", {}, t("accuracy")), el("dd", { id: "fix-accuracy" }, `±${Math.round(fix.accuracy_m)} m`),
      el("dt", {}, t("distance")), el("dd", { id: "fix-distance" }, formatDistance(distance)),
      el("dt", {}, t("fix_time")), el("dd", {}, new Date(fix.at).toLocaleTimeString(current())));
    $("geofence").textContent = t(inside ? "inside_geofence" : "outside_geofence", { radius: GEOFENCE_M });
    $("geofence").className = `verdict ${inside ? "inside" : "outside"}`;
    $("send-checkin").disabled = false;
  } catch (error) {
    $("geofence").textContent = t("no_fix", { reason: error.message });
  }
}

async function sendCheckIn() {
  const fix = state.fix;
  $("send-checkin").disabled = true;
  await sync.enqueue({ kind: "checkin", visit_id: state.visitId,
    body: { at: localIso(), lat: fix.lat, lon: fix.lon, accuracy_m: fix.accuracy_m } });
  show("visit");
}

// --- capture -------------------------------------------------------------------------------------

let recorder = null;

function openCapture(kind) {
  state.captureKind = kind;
  state.capture = null;
  delete document.body.dataset.captureSha;
  $("capture-title").textContent = t(kind);
  $("photo-input").hidden = kind !== "photo";
  $("audio-input").hidden = kind !== "audio";
  $("note-input").hidden = kind !== "note";
  $("consent").hidden = kind === "note";
  $("photo-file").value = "";
  $("photo-preview").hidden = true;
  $("audio-preview").hidden = true;
  $("note-text").value = "";
  for (const input of document.querySelectorAll("#consent input")) input.checked = false;
  $("capture-facts").textContent = "";
  showError("capture-error", "");
  show("capture");
  updateSave();
}

// The moment of capture: the exact bytes are hashed as they came from the camera, never re-encoded.
async function captured(blob, mediaType, filename) {
  const at = localIso();
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const digest = await sha256Hex(bytes);
  let fix = null;
  try { fix = await freshFix(); } catch { /* shown at save */ }
  state.capture = { blob: new Blob([bytes], { type: mediaType }), sha256: digest, at, fix, filename, size: bytes.length };
  $("capture-facts").textContent = t("capture_facts", { sha: digest.slice(0, 16), size: formatSize(bytes.length) });
  document.body.dataset.captureSha = digest;
  updateSave();
}

function consent() {
  const subject = document.querySelector("#consent input[name=subject]:checked");
  const third = document.querySelector("#consent input[name=third]:checked");
  return subject && third ? { subject: subject.value, third_parties_present: third.value === "yes" } : null;
}

function updateSave() {
  const kind = state.captureKind;
  const ready = kind === "note" ? $("note-text").value.trim().length > 0 : Boolean(state.capture && consent());
  $("save-capture").disabled = !ready;
}

async function saveCapture() {
  const kind = state.captureKind;
  $("save-capture").disabled = true;
  try {
    if (kind === "note") {
      const text = $("note-text").value;
      const fix = await freshFix().catch(() => null);
      const digest = await sha256Hex(utf8(text));
      const body = { text, at: localIso() };
      if (fix) {
        // Signed like a capture: the text's hash, `at` as sent, where, which visit (a note without a fix stays unsigned).
        const device = await db.get("kv", "device");
        const signed = { sha256: digest, captured_at: body.at, lat: fix.lat, lon: fix.lon, visit_id: state.visitId };
        Object.assign(body, { lat: fix.lat, lon: fix.lon, accuracy_m: fix.accuracy_m, device_id: device.id,
          device_signature: await sign(device.privateKey, capturePayload(signed)) });
      }
      await sync.enqueue({ kind: "note", visit_id: state.visitId, body, sha256: digest, size: utf8(text).length });
    } else {
      const answers = consent();
      if (!answers) return showError("capture-error", t("consent_needed"));
      const c = state.capture;
      const fix = c.fix || (await freshFix());
      const device = await db.get("kv", "device");
      const signed = { sha256: c.sha256, captured_at: c.at, lat: fix.lat, lon: fix.lon, visit_id: state.visitId };
      const signature = await sign(device.privateKey, capturePayload(signed));
      const metadata = { visit_id: state.visitId, kind, sha256: c.sha256, captured_at: c.at, lat: fix.lat, lon: fix.lon,
        accuracy_m: fix.accuracy_m, consent: answers, device_id: device.id, device_signature: signature };
      await sync.enqueue({ kind, visit_id: state.visitId, metadata, sha256: c.sha256, size: c.size, filename: c.filename }, c.blob);
    }
    state.capture = null;
    show("visit");
  } catch (error) {
    showError("capture-error", error.message);
    $("save-capture").disabled = false;
  }
}

async function startRecording() {
  const type = ["audio/mp4", "audio/mp4;codecs=mp4a.40.2", "audio/mp4;codecs=opus"].find((m) => MediaRecorder.isTypeSupported(m));
  if (!type) return showError("capture-error", "audio/mp4");
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const chunks = [];
  recorder = new MediaRecorder(stream, { mimeType: type });
  recorder.ondataavailable = (e) => {
    if (!e.data.size) return;
    chunks.push(e.data);
    document.body.dataset.recorded = String(chunks.reduce((n, c) => n + c.size, 0));
  };
  recorder.onstop = async () => {
    stream.getTracks().forEach((track) => track.stop());
    const blob = new Blob(chunks, { type: "audio/mp4" });
    $("audio-preview").src = URL.createObjectURL(blob);
    $("audio-preview").hidden = false;
    await captured(blob, "audio/mp4", "recording.m4a");
  };
  document.body.dataset.recorded = "0";
  recorder.start(250); // a chunk every quarter second: nothing is lost if the app is killed mid-recording
  $("record").disabled = true;
  $("stop").disabled = false;
}

function stopRecording() {
  recorder?.stop();
  $("record").disabled = false;
  $("stop").disabled = true;
}

// --- check out -----------------------------------------------------------------------------------

async function openCheckOut() {
  const select = $("outcome");
  select.replaceChildren(...OUTCOMES.map((o) => el("option", { value: o }, t(`outcome_${o}`))));
  showError("checkout-error", "");
  show("checkout");
}

async function saveCheckOut(event) {
  event.preventDefault();
  const outcome = $("outcome").value;
  const amount = $("promise-amount").value.trim();
  const due = $("promise-date").value;
  if ((outcome === "promise_to_pay" && !(amount && due)) || (Boolean(amount) !== Boolean(due))) {
    return showError("checkout-error", t("promise_needed"));
  }
  const fix = await freshFix().catch(() => state.fix);
  const visit = await currentVisit();
  const body = { at: localIso(), lat: fix?.lat ?? visit.address.lat, lon: fix?.lon ?? visit.address.lon, outcome,
    summary: $("summary").value.trim() || null, ...(amount ? { promise: { amount, currency: visit.currency, due_date: due } } : {}) };
  await sync.enqueue({ kind: "checkout", visit_id: state.visitId, body });
  $("checkout-form").reset();
  show("visit");
}

// --- sync screen ---------------------------------------------------------------------------------

async function renderSync() {
  const c = await sync.counts();
  $("sync-counts").replaceChildren(...["waiting", "sending", "sealed", "refused"].flatMap((k) => [
    el("dt", {}, t(k)), el("dd", { id: `count-${k}` }, String(c[k]))]));
  // A large upload in flight shows its bytes; otherwise the share of today's items already sent.
  const p = sync.status.progress;
  const sent = c.sealed + c.refused;
  $("upload-progress").max = p.total || Math.max(1, c.total);
  $("upload-progress").value = p.total ? p.loaded : sent;
  $("sync-state").textContent = sync.status.running ? t("sync_running")
    : sync.status.retryIn ? t("sync_retry", { s: sync.status.retryIn }) : c.waiting + c.sending ? "" : t("sync_idle");
  $("queue-list").replaceChildren(...(await sync.items()).reverse().map(itemLine));
}

async function renderSettings() {
  const user = await db.get("kv", "user");
  const device = await db.get("kv", "device");
  $("who").textContent = user ? t("signed_in_as", { name: user.username }) : "";
  $("device-line").textContent = device ? t("device", { id: device.id.slice(0, 8) }) : "";
  $("language").value = localStorage.getItem("fieldproof.language") || "auto";
}

let rendering = Promise.resolve();
let renderTimer = null;
// Changes come in bursts (a sync of 200 items): draw at most every 150 ms, not once per change.
function render() {
  if (renderTimer) return rendering;
  renderTimer = setTimeout(() => { renderTimer = null; draw(); }, state.screen ? 150 : 0);
  return rendering;
}

function draw() {
  rendering = rendering.then(async () => {
    const c = state.signedIn ? await sync.counts().catch(() => null) : null;
    if (c) {
      $("sync-badge").textContent = c.waiting + c.sending ? String(c.waiting + c.sending) : "";
      document.body.dataset.pending = String(c.waiting + c.sending);
      document.body.dataset.confirmed = String(c.confirmed);
    }
    $("net").textContent = navigator.onLine ? t("online") : t("offline");
    $("net").className = `pill ${navigator.onLine ? "on" : "off"}`;
    if (state.screen === "today") await renderToday();
    if (state.screen === "visit") await renderVisit();
    if (state.screen === "sync") await renderSync();
    if (state.screen === "settings") await renderSettings();
  }).catch((error) => console.error(error.name));
  return rendering;
}

// --- start ---------------------------------------------------------------------------------------

async function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  await navigator.serviceWorker.register("/field/sw.js", { scope: "/field/" });
  await navigator.serviceWorker.ready;
  if (navigator.serviceWorker.controller) document.body.dataset.shell = "cached";
  navigator.serviceWorker.addEventListener("controllerchange", () => { document.body.dataset.shell = "cached"; });
}

async function start() {
  // The language is the one thing kept outside IndexedDB: it is not personal, and survives signing out.
  setLanguage(localStorage.getItem("fieldproof.language"));
  $("signin-form").addEventListener("submit", signIn);
  for (const tab of document.querySelectorAll("#tabs button")) tab.addEventListener("click", () => show(tab.dataset.screen));
  $("go-checkin").addEventListener("click", openCheckIn);
  $("refresh-fix").addEventListener("click", () => { state.fix = null; locate(); });
  $("send-checkin").addEventListener("click", sendCheckIn);
  $("go-photo").addEventListener("click", () => openCapture("photo"));
  $("go-audio").addEventListener("click", () => openCapture("audio"));
  $("go-note").addEventListener("click", () => openCapture("note"));
  $("go-checkout").addEventListener("click", openCheckOut);
  $("photo-file").addEventListener("change", async () => {
    const file = $("photo-file").files[0];
    if (!file) return;
    $("photo-preview").src = URL.createObjectURL(file);
    $("photo-preview").hidden = false;
    await captured(file, file.type || "image/jpeg", file.name || "photo.jpg");
  });
  $("record").addEventListener("click", () => startRecording().catch((e) => showError("capture-error", e.message)));
  $("stop").addEventListener("click", stopRecording);
  $("note-text").addEventListener("input", updateSave);
  for (const input of document.querySelectorAll("#consent input")) input.addEventListener("change", updateSave);
  $("save-capture").addEventListener("click", saveCapture);
  $("checkout-form").addEventListener("submit", saveCheckOut);
  $("sync-now").addEventListener("click", () => sync.kick());
  $("sign-out").addEventListener("click", signOut);
  $("language").addEventListener("change", async () => {
    localStorage.setItem("fieldproof.language", $("language").value);
    setLanguage($("language").value);
    render();
  });
  sync.onChange(render);
  window.addEventListener("fieldproof:unauthorized", async () => {
    if (!state.signedIn || state.screen === "signin") return;
    state.reauth = true;
    await db.del("kv", "token").catch(() => {});
    const user = await db.get("kv", "user");
    $("username").value = user ? user.username : "";
    $("signin-note").textContent = t("session_ended");
    $("signin-note").hidden = false;
    show("signin");
  });
  window.addEventListener("online", () => {
    render();
    if (!state.signedIn) return;
    sync.kick();
    refreshToday().then(render).catch(() => {});
  });
  window.addEventListener("offline", render);
  setInterval(render, 30_000);
  registerWorker().catch(() => {});
  watchPosition().catch(() => {});
  state.signedIn = (await db.exists()) && Boolean(await db.get("kv", "token"));
  if (!state.signedIn) return show("signin");
  show("today");
  document.body.dataset.ready = "1";
  sync.kick();
  if (navigator.onLine) refreshToday().then(render).catch(() => {});
}

window.fieldproof = { sync, localIso };
start().then(() => { document.body.dataset.ready = "1"; });
