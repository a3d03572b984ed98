// The app shell, cached so the app opens and captures with no network at all. Only the shell:
// nothing under /api/ is ever cached here (visits and evidence live in IndexedDB).
const VERSION = "__VERSION__";
const CACHE = `fieldproof-shell-${VERSION}`;
const SHELL = ["__SHELL__"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL.map((p) => new Request(p, { cache: "reload" }))))
    .then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("fieldproof-shell-") && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || !url.pathname.startsWith("/field/")) return;
  const path = event.request.mode === "navigate" ? "/field/" : url.pathname;
  if (!SHELL.includes(path)) return;
  // Shell first from the cache (fast on a bad network, works with none); the network refreshes it.
  event.respondWith(caches.open(CACHE).then(async (cache) => {
    const cached = await cache.match(path);
    const network = fetch(event.request).then((response) => {
      if (response.ok && response.type === "basic") cache.put(path, response.clone());
      return response;
    }).catch(() => null);
    return cached || (await network) || Response.error();
  }));
});
