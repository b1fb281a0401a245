/* Review page: the list of flags (or sightings) and the detail of the one selected.
 * Loaded before app.js (see index.html), whose helpers (el, api, state, ...) these
 * functions use when called.  Everything from the flight is put in the page as text. */
"use strict";

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
  if (f.position_uncertainty_m != null) fact("position within", `± ${Math.round(f.position_uncertainty_m)} m (attitude, height and box, through the camera model)`);
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
