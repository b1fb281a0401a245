/* Flight review page.  Plain JS, no network access beyond this server, no build step: the page
 * loads one classic script per concern (list.js, decisions.js, viewer.js, map.js, keys.js,
 * sightings.js, mosaic.js, basemap.js) and this one last, which holds the shared helpers and
 * state and starts the page.
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
