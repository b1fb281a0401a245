/* Flight review page.  Plain JS, no network access beyond this server.
 * Everything that comes from the flight's metadata is put in the page as text (textContent or
 * attribute values), never parsed as HTML. */
"use strict";

const $ = (id) => document.getElementById(id);
const SVGNS = "http://www.w3.org/2000/svg";
const PAGE = 100;
const CLASS_COLOURS = {
  fire: "#e53935", smoke: "#b0bec5", vehicle: "#1e88e5", hotspot: "#ff9800", spotlight: "#fdd835",
};

const state = {
  flight: null,
  page: { offset: 0, total: 0, items: [] },
  sel: -1,            // index of the selected flag in page.items
  flag: null,         // detail of the selected flag
  frame: null,        // frame shown in the viewer
  markers: new Map(), // fid -> svg circle
  footprints: new Map(), // frame fid -> svg polygon
  proj: null,
  view: { s: 1, x: 0, y: 0 },
  pendingOverride: null,
  mode: "sightings",  // the list: "sightings" (one entry per object) or "flags" (one per photo)
  sighting: null,     // the selected sighting (sightings mode)
  smarkers: new Map(), // sighting fid -> svg circle
};

/* ---------- small helpers ---------- */
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null) continue;
      if (k === "class") e.className = v;
      else if (k === "dataset") Object.assign(e.dataset, v);
      else if (k in e && typeof v !== "string") e[k] = v;
      else e.setAttribute(k, v);
    }
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
function svg(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}
function colour(cls) {
  if (CLASS_COLOURS[cls]) return CLASS_COLOURS[cls];
  let h = 0;
  for (const ch of String(cls)) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return `hsl(${h}, 70%, 60%)`;
}
function fmtScore(s) { return (s === null || s === undefined) ? "—" : Number(s).toFixed(2); }
function fmtTime(t) { return t ? String(t).replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC") : "—"; }
function statusBadge(status) { return el("span", { class: `status ${status}` }, status); }
function message(text, kind) {
  const m = $("message");
  m.textContent = text || "";
  m.className = kind || "";
}

async function api(path, opts) {
  const res = await fetch(path, Object.assign({ headers: { "Accept": "application/json" } }, opts));
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) {
    const err = new Error((body && body.error) || `${res.status} ${res.statusText}`);
    err.status = res.status;
    err.body = body;
    throw err;
  }
  return body;
}

/* ---------- header ---------- */
function renderCounts() {
  const f = state.flight;
  const c = $("counts");
  c.replaceChildren();
  const item = (label, n) => el("span", null, el("span", { class: "n" }, String(n)), " " + label);
  c.append(item("frames", f.frames.total), item("sightings", f.sightings.total), item("flags", f.flags.total));
  const by = state.mode === "sightings" ? f.sightings.by_status : f.flags.by_status;
  for (const s of ["new", "confirmed", "rejected", "uncertain"]) c.append(item(s, by[s] || 0));
  if (f.flags.no_position) c.append(item("without map position", f.flags.no_position));
}

// What each detector was searched at (--sensitivity): a "high" smoke search flags more, so the
// reviewer should know before reading the list.  Levels as recorded per frame.
function renderSensitivity() {
  const sens = state.flight.sensitivity || {};
  const parts = Object.entries(sens).map(([det, levels]) => {
    const names = Object.keys(levels);
    const shown = names.length === 1 ? names[0] : names.map((l) => `${l} (${levels[l]} frames)`).join(", ");
    return `${det} ${shown}`;
  });
  $("sensitivity").textContent = parts.length ? `Sensitivity: ${parts.join(" · ")}` : "";
  const high = Object.values(sens).some((levels) => "high" in levels);
  $("sensitivity").classList.toggle("high", high);
}

/* ---------- flag list ---------- */
function listQuery() {
  const [sort, order] = $("f-sort").value.split(":");
  const p = new URLSearchParams({ sort, order, offset: state.page.offset, limit: PAGE });
  if ($("f-class").value) p.set("class", $("f-class").value);
  if ($("f-status").value) p.set("status", $("f-status").value);
  if ($("f-score").value !== "") p.set("min_score", $("f-score").value);
  return p;
}

async function loadPage(selectIndex) {
  const data = await api((state.mode === "sightings" ? "/api/sightings?" : "/api/flags?") + listQuery());
  state.page = data;
  renderList();
  const n = data.items.length;
  if (n === 0) { selectIndex = -1; }
  else if (selectIndex === "last") selectIndex = n - 1;
  else selectIndex = Math.max(0, Math.min(n - 1, selectIndex || 0));
  if (selectIndex >= 0) await select(selectIndex);
  else { state.sel = -1; clearDetail(); }
}

function renderList() {
  const { items, offset, total } = state.page;
  const ol = $("flag-list");
  ol.replaceChildren();
  if (state.mode === "sightings") ol.append(...items.map(sightingRow));
  else items.forEach((f, i) => {
    const img = el("img", { loading: "lazy", decoding: "async", alt: "", src: `/api/flags/${f.fid}/crop` });
    img.addEventListener("error", () => img.classList.add("missing"));  // frame file gone
    const li = el("li", { class: "flag-row", dataset: { fid: String(f.fid), index: String(i) } },
      img,
      el("div", null,
        el("div", { class: "cls" }, swatch(f.cls), f.cls, " ", el("span", { class: "sub" }, fmtScore(f.score))),
        el("div", { class: "sub" }, `#${f.fid} · ${f.frame_name || "frame " + f.frame_fid}`)),
      statusBadge(f.status));
    li.addEventListener("click", () => select(i));
    ol.append(li);
  });
  const last = Math.min(offset + items.length, total);
  $("page-info").textContent = total ? `${offset + 1}–${last} of ${total}` : `no ${state.mode} match`;
  $("page-prev").disabled = offset <= 0;
  $("page-next").disabled = offset + items.length >= total;
}
function swatch(cls) {
  const s = el("span", { class: "swatch" });
  s.style.background = colour(cls);
  return s;
}
function rowOf(i) { return $("flag-list").querySelector(`li[data-index="${i}"]`); }

async function select(i, flagFid) {
  const items = state.page.items;
  if (i < 0 || i >= items.length) return;
  const prev = rowOf(state.sel);
  if (prev) prev.classList.remove("selected");
  state.sel = i;
  const row = rowOf(i);
  row.classList.add("selected");
  row.scrollIntoView({ block: "nearest" });
  if (state.mode === "sightings") {
    state.pendingOverride = null;
    if ($("message").className !== "ok") message("");
    return showSighting(items[i], flagFid);
  }
  // Decide on what is shown: the list row already carries status, version and note, so a key
  // pressed before the details arrive applies to this flag, never to the previous one.
  state.flag = Object.assign({ history: [], position: null, partial: true }, items[i]);
  delete $("detail").dataset.loaded;
  state.pendingOverride = null;
  if ($("message").className !== "ok") message("");  // a warning was about another flag
  renderDetail();
  markSelectedMarker();
  await showFlag(items[i].fid);
}

async function move(delta) {
  const n = state.page.items.length;
  const j = state.sel + delta;
  if (j >= 0 && j < n) return select(j);
  if (delta > 0 && state.page.offset + n < state.page.total) {
    state.page.offset += PAGE;
    return loadPage(0);
  }
  if (delta < 0 && state.page.offset > 0) {
    state.page.offset = Math.max(0, state.page.offset - PAGE);
    return loadPage("last");
  }
}

/* ---------- flag detail ---------- */
function clearDetail() {
  state.flag = null;
  $("flag-title").textContent = "No flag selected";
  $("flag-facts").replaceChildren();
  for (const k of ["dm", "dd", "utm", "mgrs"]) $("pos-" + k).textContent = "—";
  $("note").value = "";
  $("history").replaceChildren();
  $("viewer-empty").hidden = false;
  $("stage").hidden = true;
}

let flagToken = 0, frameToken = 0;
async function showFlag(fid) {
  const token = ++flagToken;
  if (!state.flag || state.flag.fid !== fid) state.flag = null;
  const f = await api(`/api/flags/${fid}`);
  if (token !== flagToken) return;  // the analyst moved on meanwhile
  const seen = state.flag;
  if (seen && seen.fid === fid && seen.version > f.version) {  // a decision landed meanwhile
    for (const k of ["status", "version", "note", "reviewer", "reviewed_at"]) f[k] = seen[k];
  }
  state.flag = f;
  state.pendingOverride = null;
  renderDetail();
  markSelectedMarker();
  if (!state.frame || state.frame.fid !== f.frame_fid) await showFrame(f.frame_fid, true);
  else { drawBoxes(); zoomToBox(); }
  if (token === flagToken) $("detail").dataset.loaded = String(fid);  // for tests and screen readers
}

function renderDetail() {
  if (state.mode === "sightings" && state.sighting) return renderSightingDetail();
  const f = state.flag;
  $("flag-title").replaceChildren(swatch(f.cls), `${f.cls} ${fmtScore(f.score)} `, statusBadge(f.status),
    el("span", { class: "sub" }, `  flag #${f.fid}`));
  const facts = $("flag-facts");
  facts.replaceChildren();
  const fact = (k, v) => { if (v !== null && v !== undefined && v !== "") facts.append(el("dt", null, k), el("dd", null, String(v))); };
  fact("frame", f.frame_name);
  fact("time", fmtTime(f.time));
  fact("detector", f.detector);
  fact("pixel box", [f.px_x0, f.px_y0, f.px_x1, f.px_y1].map((v) => Math.round(v)).join(", "));
  if (f.ground_size_m !== null) fact("ground size", `${Number(f.ground_size_m).toFixed(1)} m` + (f.size_ok === 0 ? " (implausible for this class)" : ""));
  fact("no position", f.position_note);
  fact("reviewed", f.reviewer ? `${f.status} by ${f.reviewer}, ${fmtTime(f.reviewed_at)}` : null);
  fact("frame sha256", f.frame_sha256 ? f.frame_sha256.slice(0, 16) + "…" : null);
  const p = f.position;
  $("pos-dm").textContent = p ? p.dm : (f.partial ? "…" : "no map position");
  $("pos-dd").textContent = p ? p.decimal : "—";
  $("pos-utm").textContent = p && p.utm ? p.utm : "—";
  $("pos-mgrs").textContent = p && p.mgrs ? p.mgrs : "—";
  // Never wipe what the analyst is typing when the flag's details arrive a moment later.
  if (state.noteFid !== f.fid || !state.noteDirty) {
    $("note").value = f.note || "";
    state.noteFid = f.fid;
    state.noteDirty = false;
  }
  for (const [id, st] of [["btn-accept", "confirmed"], ["btn-reject", "rejected"], ["btn-uncertain", "uncertain"]]) {
    $(id).classList.toggle("current", f.status === st);
  }
  const h = $("history");
  h.replaceChildren(...(f.history || []).map((d) =>
    el("li", null, `${fmtTime(d.at)} · ${d.status} · ${d.reviewer || "?"}`, d.note ? ` · “${d.note}”` : "")));
}

/* ---------- decisions ---------- */
async function decide(status) {
  if (state.mode === "sightings") {
    const s = state.sighting;
    if (!s || state.deciding) return;
    if (!farApartConfirmed(s, status)) return;
    state.deciding = true;
    let ok = false;
    try { ok = await decideSightingOn(s, status); } finally { state.deciding = false; }
    if (ok && $("auto-advance").checked && state.sighting === s) await move(1);
    return;
  }
  const f = state.flag;
  if (!f || state.deciding) return;
  state.deciding = true;
  let saved = false;
  try { saved = await decideOn(f, status); } finally { state.deciding = false; }
  // Move on only once the decision is stored, and only if the analyst has not moved already.
  if (saved && $("auto-advance").checked && state.flag && state.flag.fid === f.fid) await move(1);
}

async function decideOn(f, status) {
  const reviewer = $("reviewer").value.trim();
  if (reviewer) localStorage.setItem("uav-review-reviewer", reviewer);
  const version = state.pendingOverride && state.pendingOverride.fid === f.fid ? state.pendingOverride.version : f.version;
  const body = { status, note: $("note").value, expected_version: version, reviewer: reviewer || null };
  let updated;
  try {
    updated = await api(`/api/flags/${f.fid}/decision`, {
      method: "POST", headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (err) {
    if (err.status === 409 && err.body && err.body.current) {
      const cur = err.body.current;
      state.pendingOverride = { fid: f.fid, version: cur.version };
      applyFlagUpdate(f, Object.assign({}, cur, { note: body.note }));
      message(`Not saved: flag #${f.fid} was changed meanwhile (now "${cur.status}"` +
        `${cur.reviewer ? " by " + cur.reviewer : ""}). Look again; deciding once more will replace it.`, "warn");
      return false;
    }
    message(`Not saved: ${err.message}`, "error");
    return false;
  }
  state.pendingOverride = null;
  if (state.noteFid === f.fid) state.noteDirty = false;
  const before = f.status;
  applyFlagUpdate(f, updated);
  state.flight.flags.by_status[before] -= 1;
  state.flight.flags.by_status[updated.status] = (state.flight.flags.by_status[updated.status] || 0) + 1;
  renderCounts();
  message(`Saved: flag #${updated.fid} ${updated.status}.`, "ok");
  return true;
}

function applyFlagUpdate(f, u) {
  Object.assign(f, u);
  f.partial = false;
  const i = state.page.items.findIndex((x) => x.fid === f.fid);
  if (i >= 0) {
    Object.assign(state.page.items[i], { status: f.status, version: f.version, note: f.note, reviewer: f.reviewer });
    const row = rowOf(i);
    if (row) row.querySelector(".status").replaceWith(statusBadge(f.status));
  }
  const shown = state.flag && state.flag.fid === f.fid;
  const m = state.markers.get(f.fid);
  if (m) m.setAttribute("class", `marker ${f.status}` + (shown ? " selected" : ""));
  if (shown) {
    if (state.flag !== f) Object.assign(state.flag, u);
    renderDetail();
  }
}

/* ---------- frame viewer ---------- */
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
function makeProjection(bbox) {
  const lon0 = (bbox[0] + bbox[2]) / 2, lat0 = (bbox[1] + bbox[3]) / 2;
  const kx = 111320 * Math.cos(lat0 * Math.PI / 180), ky = 110574;
  return { p: (lon, lat) => [(lon - lon0) * kx, -(lat - lat0) * ky] };
}

function ringPoints(ring) { return ring.map(([lon, lat]) => state.proj.p(lon, lat)); }

async function buildMap() {
  const f = state.flight;
  const box = $("map");
  const overlay = $("map-overlay");
  box.replaceChildren(overlay);
  if (!f.bbox) { overlay.hidden = true; box.append(el("p", { class: "sub" }, "No frame or flag of this flight has a map position.")); return; }
  state.proj = makeProjection(f.bbox);
  const root = svg("svg", { preserveAspectRatio: "xMidYMid meet" });
  const gPics = svg("g", { id: "map-pictures" }), gFoot = svg("g", { id: "map-footprints" });
  const gTrack = svg("g", { id: "map-track" }), gMarks = svg("g", { id: "map-markers" });
  const gSight = svg("g", { id: "map-sightings" });
  root.append(gPics, gFoot, gTrack, gMarks, gSight);
  box.prepend(root);
  const [frames, track, markers, smarkers] = await Promise.all([api("/api/frames"), api("/api/track"),
    api("/api/markers"), api("/api/sightings/markers")]);
  const pts = [];
  state.frameFeatures = frames.features;
  for (const ft of frames.features) {
    const g = ft.geometry;
    if (!g || g.type !== "Polygon") continue;
    const ring = ringPoints(g.coordinates[0]);
    pts.push(...ring);
    const poly = svg("polygon", { class: "footprint", "data-fid": ft.properties.fid,
      points: ring.map((p) => p.join(",")).join(" ") });
    const t = svg("title"); t.textContent = `${ft.properties.name || "frame"} · ${ft.properties.n_flags} flag(s)`;
    poly.append(t);
    poly.addEventListener("click", () => showFrame(ft.properties.fid, false));
    state.footprints.set(ft.properties.fid, poly);
    gFoot.append(poly);
  }
  for (const ft of track.features) {
    const cs = ft.geometry.type === "LineString" ? [ft.geometry.coordinates] : ft.geometry.coordinates;
    for (const line of cs) {
      const p = ringPoints(line);
      pts.push(...p);
      gTrack.append(svg("polyline", { class: "track", points: p.map((q) => q.join(",")).join(" ") }));
    }
  }
  if (!track.features.length) {
    // No flown track recorded: join the camera positions in capture order instead (the frames
    // come sorted by time), drawn fainter so nobody mistakes it for the logged track.
    const cam = frames.features.filter((ft) => ft.properties.lat !== null && ft.properties.lon !== null)
      .map((ft) => state.proj.p(ft.properties.lon, ft.properties.lat));
    if (cam.length >= 2) {
      const pl = svg("polyline", { class: "track camera-path", points: cam.map((q) => q.join(",")).join(" ") });
      const t = svg("title"); t.textContent = "camera positions in capture order (no flown track recorded)";
      pl.append(t);
      gTrack.append(pl);
    }
  }
  for (const [fid, lon, lat, cls, status] of markers.rows) {
    const [x, y] = state.proj.p(lon, lat);
    pts.push([x, y]);
    const c = svg("circle", { cx: x, cy: y, r: 5, class: `marker ${status}`, "data-fid": fid });
    c.style.fill = colour(cls);
    const t = svg("title"); t.textContent = `${cls} #${fid} (${status})`;
    c.append(t);
    c.addEventListener("click", (ev) => { ev.stopPropagation(); jumpToFlag(fid); });
    state.markers.set(fid, c);
    gMarks.append(c);
  }
  drawSightingMarkers(gSight, smarkers.rows, pts);
  state.mapRoot = root;
  state.mapExtent = extentOf(pts);
  fitMap();
  setupMapInteraction(root);
  $("show-pictures").checked = frames.features.length <= 400;
  togglePictures();
  window.mosaicLayer.draw(root, state.proj).catch(showError);   // mosaic.js: the mosaic under it all
  const legend = $("legend");
  legend.replaceChildren(...Object.keys(f.flags.by_class).map((c) => el("span", null, swatch(c), c)));
  markSelectedMarker();
  markSelectedSighting();
}

function extentOf(pts) {
  if (!pts.length) return [-50, -50, 50, 50];
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of pts) { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y); }
  const m = Math.max(20, 0.05 * Math.max(x1 - x0, y1 - y0));
  return [x0 - m, y0 - m, x1 + m, y1 + m];
}
function setViewBox(vb) {
  state.mapVB = vb;
  state.mapRoot.setAttribute("viewBox", vb.join(" "));
  // Keep markers the same size on screen whatever the zoom: one CSS variable, not one
  // attribute per marker, so zooming stays smooth with thousands of flags.
  const unitsPerPx = Math.max(vb[2] / Math.max(1, $("map").clientWidth), vb[3] / Math.max(1, $("map").clientHeight));
  state.mapRoot.style.setProperty("--mr", `${6 * unitsPerPx}px`);
  drawScale(unitsPerPx);
}
function drawScale(metresPerPx) {
  // The map's units are metres (local projection), so a scale bar is exact near the flight.
  const target = 90 * metresPerPx;
  const p = Math.pow(10, Math.floor(Math.log10(target)));
  const nice = [5, 2, 1].map((k) => k * p).find((v) => v <= target) || p;
  $("map-scale-bar").style.width = `${Math.round(nice / metresPerPx)}px`;
  $("map-scale-text").textContent = nice >= 1000 ? `${nice / 1000} km` : `${nice} m`;
}
function fitMap() {
  if (!state.mapRoot) return;
  const [x0, y0, x1, y1] = state.mapExtent;
  setViewBox([x0, y0, x1 - x0, y1 - y0]);
}
function setupMapInteraction(root) {
  root.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const [x, y, w, h] = state.mapVB;
    const r = root.getBoundingClientRect();
    const s = Math.max(w / r.width, h / r.height);
    const ox = x + (w - r.width * s) / 2, oy = y + (h - r.height * s) / 2;
    const mx = ox + (ev.clientX - r.left) * s, my = oy + (ev.clientY - r.top) * s;
    const k = ev.deltaY < 0 ? 1 / 1.25 : 1.25;
    setViewBox([mx - (mx - x) * k, my - (my - y) * k, w * k, h * k]);
  }, { passive: false });
  let drag = null;
  root.addEventListener("pointerdown", (ev) => {
    if (ev.target.classList && ev.target.classList.contains("marker")) return;
    drag = { x: ev.clientX, y: ev.clientY, vb: state.mapVB.slice() };
    root.setPointerCapture(ev.pointerId);
  });
  root.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const r = root.getBoundingClientRect();
    const s = Math.max(drag.vb[2] / r.width, drag.vb[3] / r.height);
    setViewBox([drag.vb[0] - (ev.clientX - drag.x) * s, drag.vb[1] - (ev.clientY - drag.y) * s, drag.vb[2], drag.vb[3]]);
  });
  root.addEventListener("pointerup", () => { drag = null; });
}

/* The image corners of a footprint ring.  Processing writes the ring clockwise from the image's
 * top-left corner with the same number of points on every edge (a plain 4-corner ring is the
 * special case of one point per edge); a ring of any other shape (repaired, clipped) cannot be
 * matched to the picture, and gets the footprint outline only. */
function imageCorners(ring) {
  const closed = ring.length > 1 && ring[0][0] === ring[ring.length - 1][0] && ring[0][1] === ring[ring.length - 1][1];
  const n = ring.length - (closed ? 1 : 0);
  if (n < 4 || n % 4 !== 0) return null;
  const e = n / 4;
  return [ring[0], ring[e], ring[2 * e], ring[3 * e]];  // TL, TR, BR, BL
}

function togglePictures() {
  const g = document.getElementById("map-pictures");
  if (!g) return;
  g.replaceChildren();
  if (!$("show-pictures").checked) return;
  // Each frame's own thumbnail drawn on its footprint.  SVG has no projective transform, so the
  // picture is cut along its diagonal and each triangle placed by its own affine map: the four
  // corners land exactly on the footprint's corners, also for oblique frames.
  const defs = svg("defs");
  g.append(defs);
  let k = 0;
  for (const ft of state.frameFeatures || []) {
    const g0 = ft.geometry;
    if (!g0 || g0.type !== "Polygon") continue;
    const c = imageCorners(g0.coordinates[0]);
    if (!c) continue;
    const [tl, tr, br, bl] = c.map(([lon, lat]) => state.proj.p(lon, lat));
    const href = `/api/frames/${ft.properties.fid}/thumb`;
    // Triangle TL-TR-BL: (0,0)->TL, (1,0)->TR, (0,1)->BL.
    const o2 = [tr[0] - br[0] + bl[0], tr[1] - br[1] + bl[1]];
    const halves = [
      [[tl, tr, bl], [tr[0] - tl[0], tr[1] - tl[1], bl[0] - tl[0], bl[1] - tl[1], tl[0], tl[1]]],
      // Triangle TR-BR-BL: (1,0)->TR, (1,1)->BR, (0,1)->BL.
      [[tr, br, bl], [br[0] - bl[0], br[1] - bl[1], br[0] - tr[0], br[1] - tr[1], o2[0], o2[1]]],
    ];
    for (const [tri, m] of halves) {
      const id = `pic-clip-${k++}`;
      const cp = svg("clipPath", { id, clipPathUnits: "userSpaceOnUse" });
      // A hair of overlap hides the seam along the diagonal.
      cp.append(svg("polygon", { points: grow(tri, 1.01).map((q) => q.join(",")).join(" ") }));
      defs.append(cp);
      // The clip sits on a wrapper: on the image itself it would be read in the image's own
      // (transformed) coordinates, not the map's.
      const wrap = svg("g", { "clip-path": `url(#${id})` });
      const im = svg("image", { width: 1, height: 1, preserveAspectRatio: "none",
        transform: `matrix(${m.join(" ")})` });
      im.setAttribute("href", href);
      wrap.append(im);
      g.append(wrap);
    }
  }
}
function grow(tri, f) {
  const cx = (tri[0][0] + tri[1][0] + tri[2][0]) / 3, cy = (tri[0][1] + tri[1][1] + tri[2][1]) / 3;
  return tri.map(([x, y]) => [cx + (x - cx) * f, cy + (y - cy) * f]);
}

function markSelectedMarker() {
  for (const c of state.mapRoot ? state.markers.values() : []) c.classList.remove("selected");
  if (!state.flag) return;
  const m = state.markers.get(state.flag.fid);
  if (m) { m.classList.add("selected"); m.parentNode.append(m); }
}
function markCurrentFootprint() {
  for (const p of state.footprints.values()) p.classList.remove("current");
  const p = state.frame && state.footprints.get(state.frame.fid);
  if (p) p.classList.add("current");
}

/* ---------- keyboard ---------- */
function onKey(ev) {
  const t = ev.target;
  const typing = t && (t.tagName === "TEXTAREA" || t.tagName === "INPUT" || t.tagName === "SELECT");
  if (typing) {
    if (ev.key === "Escape") t.blur();
    return;
  }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const actions = {
    j: () => move(1), k: () => move(-1), ArrowDown: () => move(1), ArrowUp: () => move(-1),
    a: () => decide("confirmed"), r: () => decide("rejected"), u: () => decide("uncertain"),
    A: () => decideFlagOfSighting("confirmed"), x: () => decideFlagOfSighting("rejected"),
    n: () => $("note").focus(),
    "[": () => $("frame-prev").click(), "]": () => $("frame-next").click(),
    "+": () => zoomAt(1.5), "=": () => zoomAt(1.5), "-": () => zoomAt(1 / 1.5), "0": fit, z: zoomToBox,
    PageDown: () => $("page-next").click(), PageUp: () => $("page-prev").click(),
    "?": () => $("help").showModal(),
  };
  const f = actions[ev.key];
  if (f) { ev.preventDefault(); f(); }
}

/* ---------- start ---------- */
async function main() {
  try {
    state.flight = await api("/api/flight");
  } catch (err) {
    message(`Cannot load the flight: ${err.message}`, "error");
    return;
  }
  const f = state.flight;
  document.title = `Review · ${f.name}`;
  $("flight-name").textContent = f.name;
  $("reviewer").value = localStorage.getItem("uav-review-reviewer") || f.reviewer || "";
  const sel = $("f-class");
  for (const c of Object.keys(f.flags.by_class)) sel.append(el("option", { value: c }, c));
  renderCounts();
  renderSensitivity();
  setupViewer();
  $("filters").addEventListener("submit", (ev) => ev.preventDefault());
  for (const id of ["f-class", "f-status", "f-score", "f-sort"]) {
    $(id).addEventListener("change", () => { state.page.offset = 0; loadPage(0).catch(showError); });
  }
  $("page-prev").addEventListener("click", () => { state.page.offset = Math.max(0, state.page.offset - PAGE); loadPage(0).catch(showError); });
  $("page-next").addEventListener("click", () => { state.page.offset += PAGE; loadPage(0).catch(showError); });
  $("btn-accept").addEventListener("click", () => decide("confirmed"));
  $("btn-reject").addEventListener("click", () => decide("rejected"));
  $("btn-uncertain").addEventListener("click", () => decide("uncertain"));
  $("btn-flag-accept").addEventListener("click", () => decideFlagOfSighting("confirmed"));
  $("btn-flag-split").addEventListener("click", () => decideFlagOfSighting("rejected"));
  $("btn-help").addEventListener("click", () => $("help").showModal());
  $("help-close").addEventListener("click", () => $("help").close());
  $("show-pictures").addEventListener("change", togglePictures);
  $("note").addEventListener("input", () => { state.noteDirty = true; });
  $("show-footprints").addEventListener("change", () => {
    document.getElementById("map-footprints").style.display = $("show-footprints").checked ? "" : "none";
  });
  $("map-fit").addEventListener("click", fitMap);
  $("mode-sightings").addEventListener("click", () => { if (state.mode !== "sightings") setMode("sightings").then(renderCounts).catch(showError); });
  $("mode-flags").addEventListener("click", () => { if (state.mode !== "flags") setMode("flags").then(renderCounts).catch(showError); });
  if (location.hash === "#flags") {
    state.mode = "flags";
    $("mode-flags").classList.add("current");
    $("mode-sightings").classList.remove("current");
  }
  document.body.dataset.mode = state.mode;
  renderCounts();
  document.addEventListener("keydown", (ev) => { Promise.resolve(onKey(ev)).catch(showError); });
  window.addEventListener("resize", () => { if (state.frame) applyView(); });
  clearDetail();
  await Promise.all([buildMap().catch(showError), loadPage(0).catch(showError)]);
  document.body.dataset.ready = "1";
}
function showError(err) { message(String(err.message || err), "error"); }

main();
