// IndexedDB, directly: one database, a small promise wrapper. Everything the app keeps on the
// phone lives here (and nowhere else), so signing out is deleting this one database.
const NAME = "fieldproof";
const VERSION = 1;
let opening = null;
let wiped = false; // after signing out, this page never opens (and so re-creates) the database again

export function open() {
  if (wiped) return Promise.reject(new Error("signed out"));
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const request = indexedDB.open(NAME, VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        db.createObjectStore("kv");                       // token, user, device, settings, last sync
        db.createObjectStore("visits", { keyPath: "id" }); // today's visits (masked, minimal)
        db.createObjectStore("queue", { keyPath: "seq", autoIncrement: true });
        db.createObjectStore("blobs");                    // captured bytes, by queue seq
      };
      request.onsuccess = () => {
        const db = request.result;
        db.onversionchange = () => { db.close(); opening = null; };
        resolve(db);
      };
      request.onerror = () => { opening = null; reject(request.error); };
      request.onblocked = () => reject(new Error("database blocked by another tab"));
    });
  }
  return opening;
}

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function finished(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
  });
}

// Whether this phone holds a database at all (a signed-out phone holds none; reading must not make one).
export async function exists() {
  if (opening) return true;
  if (!indexedDB.databases) return true;
  return (await indexedDB.databases()).some((d) => d.name === NAME);
}

export async function get(store, key) {
  const db = await open();
  return done(db.transaction(store).objectStore(store).get(key));
}

export async function all(store) {
  const db = await open();
  return done(db.transaction(store).objectStore(store).getAll());
}

export async function put(store, value, key) {
  const db = await open();
  const tx = db.transaction(store, "readwrite");
  const result = done(key === undefined ? tx.objectStore(store).put(value) : tx.objectStore(store).put(value, key));
  await finished(tx);
  return result;
}

export async function del(store, key) {
  const db = await open();
  const tx = db.transaction(store, "readwrite");
  tx.objectStore(store).delete(key);
  return finished(tx);
}

// Several writes that must land together (a queue item and its bytes), or none of them.
export async function write(stores, fn) {
  const db = await open();
  const tx = db.transaction(stores, "readwrite");
  const out = fn(Object.fromEntries(stores.map((s) => [s, tx.objectStore(s)])));
  await finished(tx);
  return out instanceof IDBRequest ? out.result : out;
}

export async function replaceAll(store, values) {
  await write([store], (s) => {
    s[store].clear();
    for (const value of values) s[store].put(value);
  });
}

export async function wipe() {
  wiped = true;
  if (opening) {
    try { (await opening).close(); } catch { /* already gone */ }
    opening = null;
  }
  await new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(NAME);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
    request.onblocked = () => resolve(); // deleted once the other tab lets go (it closes on versionchange)
  });
}
