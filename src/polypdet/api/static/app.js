// polypdet web page: upload one image or DICOM file, draw the boxes, filter them with the threshold slider.
"use strict";

const REQUEST_CONF = 0.05; // ask for everything above the slider's minimum; the slider filters locally
const BOX_COLOR = "#00e5ff";
const $ = (id) => document.getElementById(id);
const state = { image: null, result: null };
// Credentials live in this page's memory only (never in storage): a reload asks to sign in again.
const auth = { headers: null, refreshToken: null, timer: null, who: "" };

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

function signedIn(headers, who) {
  auth.headers = headers;
  auth.who = who;
  $("signin").hidden = true;
  $("who").hidden = false;
  $("who-text").textContent = `Signed in as ${who}.`;
  $("main").hidden = false;
  refreshRecent();
}

function signedOut(message = "") {
  clearTimeout(auth.timer);
  Object.assign(auth, { headers: null, refreshToken: null, timer: null, who: "" });
  $("signin").hidden = false;
  $("who").hidden = true;
  $("main").hidden = true;
  $("signin-status").textContent = message;
}

function useTokens(body, who) {
  auth.refreshToken = body.refresh_token;
  clearTimeout(auth.timer);
  // Refresh a little before the access token expires; the server ends idle sessions on its own.
  auth.timer = setTimeout(refreshTokens, Math.max(5, body.expires_in - 30) * 1000);
  signedIn({ Authorization: `Bearer ${body.access_token}` }, who);
}

async function refreshTokens() {
  const response = await fetch("/api/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: auth.refreshToken }),
  });
  if (!response.ok) return signedOut("Your session ended. Please sign in again.");
  useTokens(await response.json(), auth.who);
}

async function login(event) {
  event.preventDefault();
  const body = { username: $("username").value, password: $("password").value, totp: $("totp").value };
  $("password").value = "";
  $("totp").value = "";
  const response = await fetch("/api/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    $("signin-status").textContent = "Sign-in failed: wrong user name, password or code (or too many attempts).";
    return;
  }
  useTokens(await response.json(), body.username);
}

async function useKey(event) {
  event.preventDefault();
  const headers = { "X-API-Key": $("api-key").value.trim() };
  $("api-key").value = "";
  const response = await fetch("/api/auth/me", { headers });
  if (!response.ok) {
    $("signin-status").textContent = "That API key is not valid.";
    return;
  }
  const me = await response.json();
  signedIn(headers, `${me.actor} (${me.roles.join(", ")})`);
}

async function logout() {
  if (auth.refreshToken) {
    await fetch("/api/auth/logout", { method: "POST", headers: auth.headers }).catch(() => {});
  }
  signedOut("Signed out.");
}

function authorized(response) {
  if (response.status === 401) {
    signedOut("Your session ended. Please sign in again.");
    return false;
  }
  return true;
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
      fetch(`/api/detect?conf=${REQUEST_CONF}`, {
        method: "POST",
        headers: { ...auth.headers, "Content-Type": type },
        body: file,
      }),
      loadPreview(file),
    ]);
    if (!authorized(response)) return;
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
    if (!auth.headers) return;
    const response = await fetch("/api/results?limit=10", { headers: auth.headers });
    if (!authorized(response) || !response.ok) return;
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
  $("login-form").addEventListener("submit", login);
  $("key-form").addEventListener("submit", useKey);
  $("logout").addEventListener("click", logout);
  signedOut();
}

document.addEventListener("DOMContentLoaded", setup);
