// FieldProof console: small progressive enhancements, no build step.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) { throw new Error(data.detail || data.message || response.statusText); }
  return data;
}

// Follow a job's progress: elements with data-progress-url poll until the job is finished.
function followProgress(element) {
  const url = element.dataset.progressUrl;
  const bar = element.querySelector("progress");
  const label = element.querySelector("[data-progress-label]");
  const done = new Set((element.dataset.doneStatuses || "ready,failed,passed,error").split(","));
  async function tick() {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) { if (label) label.textContent = response.statusText; return; }
    const job = await response.json();
    if (bar) bar.value = Math.round((job.progress || 0) * 100);
    if (label) label.textContent = job.status_label || job.status;
    if (job.counts) {  // running tallies (a placement's rows so far), in cells marked data-count="name"
      document.querySelectorAll("[data-count]").forEach((cell) => {
        if (cell.dataset.count in job.counts) cell.textContent = job.counts[cell.dataset.count];
      });
    }
    element.dataset.status = job.status;
    if (done.has(job.status)) { element.dispatchEvent(new CustomEvent("job-finished", { detail: job })); return; }
    setTimeout(tick, 700);
  }
  tick();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-progress-url]").forEach(followProgress);
  document.querySelectorAll("[data-reload-on-finish]").forEach((el) =>
    el.addEventListener("job-finished", () => window.location.reload()));
  if (window.FieldProofPage) { window.FieldProofPage(); }
});
