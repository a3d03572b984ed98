// Redaction tool: drag rectangles on the photo (or type them), preview, save as a derived item.
"use strict";
(function () {
  const image = document.getElementById("evidence-image");
  const canvas = document.getElementById("redaction-canvas");
  const form = document.getElementById("redaction-form");
  if (!image || !canvas || !form) return;
  const list = document.getElementById("region-list");
  const field = document.getElementById("regions");
  const regions = []; // in the photo's own pixels, as a viewer sees it (orientation applied)
  let start = null, previewing = false;

  function scale() { return image.naturalWidth / image.clientWidth; }
  function fit() {
    canvas.width = image.clientWidth; canvas.height = image.clientHeight;
    canvas.style.width = image.clientWidth + "px"; canvas.style.height = image.clientHeight + "px";
    draw();
  }
  function draw(extra) {
    const ctx = canvas.getContext("2d"), s = scale();
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    for (const r of regions.concat(extra ? [extra] : [])) {
      const x = r.x / s, y = r.y / s, w = r.width / s, h = r.height / s;
      if (previewing) {
        ctx.fillStyle = document.getElementById("mode").value === "black" ? "#000" : "rgba(120,120,120,0.92)";
        ctx.fillRect(x, y, w, h);
      } else {
        ctx.strokeStyle = "#ff3b30"; ctx.lineWidth = 2; ctx.strokeRect(x, y, w, h);
        ctx.fillStyle = "rgba(255,59,48,0.15)"; ctx.fillRect(x, y, w, h);
      }
    }
  }
  function sync() {
    field.value = JSON.stringify(regions);
    list.innerHTML = "";
    regions.forEach((r, i) => {
      const li = document.createElement("li");
      li.textContent = `x ${r.x}, y ${r.y}, ${r.width} × ${r.height} `;
      const remove = document.createElement("button");
      remove.type = "button"; remove.textContent = "×";
      remove.setAttribute("aria-label", "remove region " + (i + 1));
      remove.addEventListener("click", () => { regions.splice(i, 1); sync(); draw(); });
      li.appendChild(remove); list.appendChild(li);
    });
  }
  function toImage(event) {
    const box = canvas.getBoundingClientRect(), s = scale();
    return { x: Math.max(0, (event.clientX - box.left) * s), y: Math.max(0, (event.clientY - box.top) * s) };
  }
  function rect(a, b) {
    const x = Math.round(Math.min(a.x, b.x)), y = Math.round(Math.min(a.y, b.y));
    const width = Math.round(Math.min(Math.abs(a.x - b.x), image.naturalWidth - x));
    const height = Math.round(Math.min(Math.abs(a.y - b.y), image.naturalHeight - y));
    return { x, y, width, height };
  }
  canvas.addEventListener("mousedown", (e) => { start = toImage(e); previewing = false; });
  canvas.addEventListener("mousemove", (e) => { if (start) draw(rect(start, toImage(e))); });
  window.addEventListener("mouseup", (e) => {
    if (!start) return;
    const r = rect(start, toImage(e)); start = null;
    if (r.width >= 4 && r.height >= 4) { regions.push(r); sync(); }
    draw();
  });
  document.getElementById("preview-button").addEventListener("click", () => { previewing = !previewing; draw(); });
  document.getElementById("clear-button").addEventListener("click", () => { regions.length = 0; sync(); draw(); });
  form.addEventListener("submit", (e) => { if (!regions.length) { e.preventDefault(); alert("Draw at least one region."); } });
  // Tests and keyboard users can add a region by numbers: window.fieldproofAddRegion(x, y, w, h).
  window.fieldproofAddRegion = (x, y, width, height) => { regions.push({ x, y, width, height }); sync(); draw(); };
  if (image.complete) fit(); else image.addEventListener("load", fit);
  window.addEventListener("resize", fit);
})();
