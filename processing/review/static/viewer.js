/* Review page: the frame viewer: the picture, its boxes, zoom and the neighbouring frames.
 * Loaded before app.js (see index.html), whose helpers (el, api, state, ...) these
 * functions use when called.  Everything from the flight is put in the page as text. */
"use strict";

async function showFrame(frameFid, fitToFlag) {
  const token = ++frameToken;
  const fr = await api(`/api/frames/${frameFid}`);
  if (token !== frameToken) return;
  state.frame = fr;
  $("frame-title").textContent = `${fr.name || "frame " + fr.fid} · ${fmtTime(fr.time)}`;
  $("frame-prev").disabled = fr.prev_fid === null;
  $("frame-next").disabled = fr.next_fid === null;
  $("viewer-empty").hidden = true;
  $("stage").hidden = false;
  const img = $("frame-img");
  const src = `/api/frames/${fr.fid}/image`;
  await new Promise((resolve) => {
    if (img.getAttribute("src") === src && img.complete) { resolve(); return; }
    img.onload = resolve;
    img.onerror = () => { message(`The picture of frame ${fr.name || fr.fid} cannot be shown (missing file?).`, "error"); resolve(); };
    img.src = src;
  });
  const w = fr.width || img.naturalWidth || 1, h = fr.height || img.naturalHeight || 1;
  img.width = w; img.height = h;
  const b = $("boxes");
  b.setAttribute("width", w); b.setAttribute("height", h); b.setAttribute("viewBox", `0 0 ${w} ${h}`);
  drawBoxes();
  renderStrip();
  markCurrentFootprint();
  if (fitToFlag && state.flag && state.flag.frame_fid === fr.fid) zoomToBox(); else fit();
}

function drawBoxes() {
  const b = $("boxes");
  b.replaceChildren();
  if (!state.frame) return;
  for (const f of state.frame.flags) {
    const r = svg("rect", { x: f.px_x0, y: f.px_y0, width: Math.max(1, f.px_x1 - f.px_x0), height: Math.max(1, f.px_y1 - f.px_y0) });
    r.style.stroke = colour(f.cls);
    if (state.flag && f.fid === state.flag.fid) r.classList.add("selected");
    const t = svg("title");
    t.textContent = `${f.cls} ${fmtScore(f.score)} (#${f.fid}, ${f.status})`;
    r.append(t);
    r.addEventListener("click", (ev) => { ev.stopPropagation(); jumpToFlag(f.fid); });
    b.append(r);
  }
}

async function jumpToFlag(fid) {
  if (state.mode === "sightings") {
    const f = state.frame && state.frame.flags.find((x) => x.fid === fid);
    if (f && state.sighting && f.sighting_id !== state.sighting.fid && f.sighting_id !== null) return jumpToSighting(f.sighting_id);
    await showFlag(fid);
    return renderSightingDetail();
  }
  const i = state.page.items.findIndex((x) => x.fid === fid);
  if (i >= 0) return select(i);
  const prev = rowOf(state.sel);
  if (prev) prev.classList.remove("selected");
  state.sel = -1;
  await showFlag(fid);
}

function renderStrip() {
  const fr = state.frame;
  const strip = $("strip");
  strip.replaceChildren();
  const add = (fid, label, current) => {
    if (fid === null || fid === undefined) return;
    const btn = el("button", { type: "button", class: current ? "current" : "", title: label },
      el("img", { loading: "lazy", alt: "", src: `/api/frames/${fid}/thumb` }), label);
    btn.addEventListener("click", () => { if (!current) showFrame(fid, false); });
    strip.append(btn);
  };
  add(fr.prev_fid, "◀ previous", false);
  add(fr.fid, `this frame · ${fr.flags.length} flag(s)`, true);
  add(fr.next_fid, "next ▶", false);
}

function applyView() {
  const { s, x, y } = state.view;
  $("stage").style.transform = `translate(${x}px, ${y}px) scale(${s})`;
}
function fit() {
  const v = $("viewer"), img = $("frame-img");
  const w = img.width || 1, h = img.height || 1;
  const s = Math.min(v.clientWidth / w, v.clientHeight / h);
  state.view = { s, x: (v.clientWidth - w * s) / 2, y: (v.clientHeight - h * s) / 2 };
  applyView();
}
function zoomToBox() {
  const f = state.flag, v = $("viewer");
  if (!f || !state.frame || f.frame_fid !== state.frame.fid) return fit();
  const bw = Math.max(f.px_x1 - f.px_x0, 8), bh = Math.max(f.px_y1 - f.px_y0, 8);
  // Show the box with context: about a third of the view, never more than 4x magnified.
  const img = $("frame-img");
  const sFit = Math.min(v.clientWidth / (img.width || 1), v.clientHeight / (img.height || 1));
  const s = Math.max(sFit, Math.min(4, Math.min(v.clientWidth / (bw * 3), v.clientHeight / (bh * 3))));
  const cx = (f.px_x0 + f.px_x1) / 2, cy = (f.px_y0 + f.px_y1) / 2;
  state.view = { s, x: v.clientWidth / 2 - cx * s, y: v.clientHeight / 2 - cy * s };
  applyView();
}
function zoomAt(factor, px, py) {
  const v = $("viewer");
  if (px === undefined) { px = v.clientWidth / 2; py = v.clientHeight / 2; }
  const { s, x, y } = state.view;
  const ns = Math.max(0.02, Math.min(40, s * factor));
  state.view = { s: ns, x: px - (px - x) * (ns / s), y: py - (py - y) * (ns / s) };
  applyView();
}
function setupViewer() {
  const v = $("viewer");
  v.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const r = v.getBoundingClientRect();
    zoomAt(ev.deltaY < 0 ? 1.2 : 1 / 1.2, ev.clientX - r.left, ev.clientY - r.top);
  }, { passive: false });
  let drag = null;
  v.addEventListener("pointerdown", (ev) => {
    drag = { x: ev.clientX, y: ev.clientY, vx: state.view.x, vy: state.view.y };
    v.setPointerCapture(ev.pointerId);
    v.classList.add("dragging");
  });
  v.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    state.view.x = drag.vx + ev.clientX - drag.x;
    state.view.y = drag.vy + ev.clientY - drag.y;
    applyView();
  });
  const end = () => { drag = null; v.classList.remove("dragging"); };
  v.addEventListener("pointerup", end);
  v.addEventListener("pointercancel", end);
  $("zoom-in").addEventListener("click", () => zoomAt(1.5));
  $("zoom-out").addEventListener("click", () => zoomAt(1 / 1.5));
  $("zoom-fit").addEventListener("click", fit);
  $("zoom-box").addEventListener("click", zoomToBox);
  $("frame-prev").addEventListener("click", () => state.frame && state.frame.prev_fid !== null && showFrame(state.frame.prev_fid, false));
  $("frame-next").addEventListener("click", () => state.frame && state.frame.next_fid !== null && showFrame(state.frame.next_fid, false));
}

/* ---------- map (local metric projection, no tiles) ---------- */
