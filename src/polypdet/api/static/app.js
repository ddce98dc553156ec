// polypdet web page: upload one image or DICOM file, draw the boxes, filter them with the threshold slider.
"use strict";

const REQUEST_CONF = 0.05; // ask for everything above the slider's minimum; the slider filters locally
const BOX_COLOR = "#00e5ff";
const $ = (id) => document.getElementById(id);
const state = { image: null, result: null };

function isDicom(file) {
  return file.type === "application/dicom" || /\.(dcm|dicom)$/i.test(file.name);
}

function threshold() {
  return Number($("threshold").value);
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function visibleDetections() {
  if (!state.result) return [];
  return state.result.detections.filter((d) => d.confidence >= threshold());
}

function draw() {
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  const result = state.result;
  if (!result) return;
  canvas.width = result.image_width;
  canvas.height = result.image_height;
  if (state.image) {
    ctx.drawImage(state.image, 0, 0, canvas.width, canvas.height);
  } else {
    ctx.fillStyle = "#222";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }
  const shown = visibleDetections();
  const line = Math.max(2, Math.round(canvas.width / 300));
  ctx.lineWidth = line;
  ctx.font = `${Math.max(14, Math.round(canvas.width / 40))}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  for (const d of shown) {
    const [x1, y1, x2, y2] = d.bbox;
    ctx.strokeStyle = BOX_COLOR;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const label = `${d.class} ${d.confidence.toFixed(2)}`;
    const width = ctx.measureText(label).width + 8;
    const top = Math.max(y1, parseInt(ctx.font, 10) + 4);
    ctx.fillStyle = BOX_COLOR;
    ctx.fillRect(x1 - line / 2, top - parseInt(ctx.font, 10) - 4, width, parseInt(ctx.font, 10) + 4);
    ctx.fillStyle = "#000";
    ctx.fillText(label, x1 + 4, top - 2);
  }
  const summary = `${shown.length} polyp${shown.length === 1 ? "" : "s"} at confidence ≥ ${threshold().toFixed(2)}`;
  canvas.setAttribute("aria-label", `Image ${result.image_width}×${result.image_height} with ${summary}`);
  const list = $("detections");
  list.replaceChildren(
    ...shown.map((d) => {
      const item = document.createElement("li");
      item.dataset.bbox = JSON.stringify(d.bbox);
      item.textContent = `${d.class}, confidence ${d.confidence.toFixed(2)}, box ${d.bbox.map(Math.round).join(", ")}`;
      return item;
    }),
  );
  setStatus(`${summary}. Model ${result.model_version}, ${result.inference_ms} ms.` +
    (state.image ? "" : " (DICOM: no preview, boxes only.)"));
}

async function loadPreview(file) {
  if (isDicom(file)) return null;
  try {
    return await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    return null;
  }
}

async function detect(file) {
  setStatus(`Analysing ${file.name}…`);
  const type = isDicom(file) ? "application/dicom" : file.type || "application/octet-stream";
  try {
    const [response, image] = await Promise.all([
      fetch(`/api/detect?conf=${REQUEST_CONF}`, { method: "POST", headers: { "Content-Type": type }, body: file }),
      loadPreview(file),
    ]);
    const body = await response.json();
    if (!response.ok) {
      setStatus(`Could not analyse ${file.name}: ${body.detail || body.error}`, true);
      return;
    }
    state.image = image;
    state.result = body;
    draw();
    refreshRecent();
  } catch (error) {
    setStatus(`Could not analyse ${file.name}: ${error}`, true);
  }
}

async function refreshRecent() {
  try {
    const response = await fetch("/api/results?limit=10");
    if (!response.ok) return;
    const page = await response.json();
    $("recent").replaceChildren(
      ...page.items.map((r) => {
        const item = document.createElement("li");
        const count = r.detections.filter((d) => d.confidence >= threshold()).length;
        const when = new Date(r.processed_at).toLocaleString();
        item.textContent = `${when}: ${count} polyp${count === 1 ? "" : "s"} (${r.source}, ${r.image_width}×${r.image_height})`;
        return item;
      }),
    );
  } catch {
    // the list is a convenience; the page keeps working without it
  }
}

function setup() {
  const drop = $("drop");
  $("file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) detect(file);
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) detect(file);
  });
  $("threshold").addEventListener("input", () => {
    $("threshold-value").textContent = threshold().toFixed(2);
    draw();
  });
  $("refresh").addEventListener("click", refreshRecent);
  refreshRecent();
}

document.addEventListener("DOMContentLoaded", setup);
