/* Sightings on the review page: one entry per object with a strip of every frame that shows it
 * (best view first); a decision here decides the sighting and all its flags.  Loaded before
 * app.js, whose helpers (el, api, swatch, state, ...) these functions use when called.
 * Everything from the flight is put in the page as text, never parsed as HTML. */
"use strict";

function sightingRow(s, i) {
  const strip = el("div", { class: "crops" });
  for (const f of s.flags) {
    const img = el("img", { loading: "lazy", decoding: "async", alt: "", src: `/api/flags/${f.fid}/crop`,
      title: `${f.frame_name || "frame " + f.frame_fid} · ${fmtScore(f.score)}`, dataset: { flag: String(f.fid) } });
    img.addEventListener("error", () => img.classList.add("missing"));
    img.addEventListener("click", (ev) => { ev.stopPropagation(); select(i, f.fid); });
    strip.append(img);
  }
  if (s.n_flags > s.flags.length) strip.append(el("span", { class: "sub more" }, `+${s.n_flags - s.flags.length}`));
  const seen = `flagged in ${s.frames_flagged} of ${s.frames_covering} frame(s) over it`;
  const li = el("li", { class: "sighting-row", dataset: { sid: String(s.fid), index: String(i) } },
    el("div", { class: "sighting-head" },
      el("div", null,
        el("div", { class: "cls" }, swatch(s.cls), s.cls, " ", el("span", { class: "sub" }, fmtScore(s.score))),
        el("div", { class: "sub seen" }, `#${s.fid} · ${seen}` + (s.positioned ? "" : " · no map position") +
          (s.moving ? " · moving" : ""))),
      statusBadge(s.status)),
    strip);
  li.addEventListener("click", () => select(i));
  return li;
}

// A sighting whose flags lie further apart than this (or that is called moving) may have joined
// things that are not one object: one key press does not decide it before the analyst looked.
const FAR_APART_M = 15;

function farApartConfirmed(s, status) {
  const far = s.moving || Number(s.spread_m) > FAR_APART_M;
  if (!far || s.n_flags < 2) return true;
  const key = `${s.fid}:${status}`;
  if (state.farConfirm === key) { state.farConfirm = null; return true; }
  state.farConfirm = key;
  const verb = { confirmed: "accept", rejected: "reject", uncertain: "call uncertain" }[status] || status;
  message(`Look first: the ${s.n_flags} flags of sighting #${s.fid} lie up to ${Number(s.spread_m).toFixed(0)} m ` +
    `apart and may not be one object. Click each photo in its strip; split off one that shows something ` +
    `else (x). Press the same key again to ${verb} all ${s.n_flags} flags.`, "warn");
  return false;
}

async function decideFlagOfSighting(status) {
  const s = state.sighting, f = state.flag;
  if (state.mode !== "sightings" || !s || !f || state.deciding) return;
  const reviewer = $("reviewer").value.trim();
  const body = { status, note: null, expected_version: s.version, reviewer: reviewer || null };
  state.deciding = true;
  let updated;
  try {
    updated = await api(`/api/sightings/${s.fid}/flags/${f.fid}/decision`, {
      method: "POST", headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (err) {
    message(`Not saved: ${err.message}`, "error");
    return false;
  } finally { state.deciding = false; }
  state.farConfirm = null;
  const split = updated.split_to;
  applySightingUpdate(s, updated);
  s.flags = updated.flags.slice(0, 12);
  const i = state.page.items.indexOf(s);
  const row = i >= 0 ? rowOf(i) : null;
  if (row) {   // its strip and counts without the flag split off
    row.replaceWith(sightingRow(s, i));
    rowOf(i).classList.add("selected");
  }
  Object.assign(state.flight, await api("/api/flight"));
  renderCounts();
  message(split ? `Saved: flag #${f.fid} ${status}, split off sighting #${s.fid} into sighting #${split}.`
    : `Saved: flag #${f.fid} ${status} (it stays in sighting #${s.fid}).`, "ok");
  await showFlag(s.best_flag_fid);
  return true;
}

let sightingToken = 0;
async function showSighting(s, flagFid) {
  const token = ++sightingToken;
  state.sighting = s;
  renderSightingDetail();
  await showFlag(flagFid || s.best_flag_fid);
  const full = await api(`/api/sightings/${s.fid}`);
  if (token !== sightingToken || state.sighting !== s) return;
  if (s.version > full.version) {  // a decision landed meanwhile
    for (const k of ["status", "version", "note", "reviewer", "reviewed_at"]) full[k] = s[k];
  }
  Object.assign(s, full, { flags: s.flags });
  s.allFlags = full.flags;
  s.partial = false;
  renderSightingDetail();
  $("detail").dataset.sighting = String(s.fid);
}

function renderSightingDetail() {
  const s = state.sighting;
  if (!s) return;
  $("flag-title").replaceChildren(swatch(s.cls), `${s.cls} ${fmtScore(s.score)} `, statusBadge(s.status),
    el("span", { class: "sub" }, `  sighting #${s.fid}`));
  const facts = $("flag-facts");
  facts.replaceChildren();
  const fact = (k, v) => { if (v !== null && v !== undefined && v !== "") facts.append(el("dt", null, k), el("dd", null, String(v))); };
  fact("seen", `flagged in ${s.frames_flagged} of the ${s.frames_covering} frame(s) over it (${s.n_flags} flag(s))`);
  fact("best flag", `${fmtScore(s.best_score)} (#${s.best_flag_fid})`);
  fact("first seen", fmtTime(s.first_time));
  if (s.last_time !== s.first_time) fact("last seen", fmtTime(s.last_time));
  if (s.moving) fact("moving", `its flags lie up to ${Number(s.spread_m).toFixed(0)} m apart`);
  if (s.positioned && s.position_uncertainty_m != null) fact("position within", `± ${Math.round(s.position_uncertainty_m)} m (its best-placed flag)`);
  fact("no position", s.positioned ? null : (s.position_note || "no map position"));
  const f = state.flag;
  if (f) fact("showing", `${f.frame_name || "frame " + f.frame_fid} · flag #${f.fid} ${fmtScore(f.score)}`);
  fact("reviewed", s.reviewer ? `${s.status} by ${s.reviewer}, ${fmtTime(s.reviewed_at)}` : null);
  if (s.unreviewed_flags) fact("since then", `${s.unreviewed_flags} new flag(s) joined it`);
  const p = s.position;
  $("pos-dm").textContent = p ? p.dm : (s.partial !== false ? "…" : "no map position");
  $("pos-dd").textContent = p ? p.decimal : "—";
  $("pos-utm").textContent = p && p.utm ? p.utm : "—";
  $("pos-mgrs").textContent = p && p.mgrs ? p.mgrs : "—";
  const key = "s" + s.fid;
  if (state.noteFid !== key || !state.noteDirty) {
    $("note").value = s.note || "";
    state.noteFid = key;
    state.noteDirty = false;
  }
  for (const [id, st] of [["btn-accept", "confirmed"], ["btn-reject", "rejected"], ["btn-uncertain", "uncertain"]]) {
    $(id).classList.toggle("current", s.status === st);
  }
  $("history").replaceChildren(...(s.history || []).map((d) =>
    el("li", null, `${fmtTime(d.at)} · ${d.status} · ${d.reviewer || "?"}`, d.note ? ` · “${d.note}”` : "")));
  markSelectedSighting();
}

async function decideSightingOn(s, status) {
  const reviewer = $("reviewer").value.trim();
  if (reviewer) localStorage.setItem("uav-review-reviewer", reviewer);
  const override = state.pendingOverride && state.pendingOverride.sid === s.fid;
  const body = { status, note: $("note").value, expected_version: override ? state.pendingOverride.version : s.version,
    reviewer: reviewer || null };
  let updated;
  try {
    updated = await api(`/api/sightings/${s.fid}/decision`, {
      method: "POST", headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (err) {
    if (err.status === 409 && err.body && err.body.current) {
      const cur = err.body.current;
      state.pendingOverride = { sid: s.fid, version: cur.version };
      applySightingUpdate(s, { status: cur.status, version: cur.version, reviewer: cur.reviewer, note: body.note });
      message(`Not saved: sighting #${s.fid} was changed meanwhile (now "${cur.status}"` +
        `${cur.reviewer ? " by " + cur.reviewer : ""}). Look again; deciding once more will replace it.`, "warn");
      return false;
    }
    message(`Not saved: ${err.message}`, "error");
    return false;
  }
  state.pendingOverride = null;
  state.noteDirty = false;
  applySightingUpdate(s, updated);
  // its flags were decided with it: recolour them and recount from the file
  for (const f of updated.flags) {
    const m = state.markers.get(f.fid);
    if (m) m.setAttribute("class", `marker ${f.status}`);
  }
  Object.assign(state.flight, await api("/api/flight"));
  renderCounts();
  message(`Saved: sighting #${s.fid} ${updated.status}, with its ${updated.flags.length} flag(s).`, "ok");
  return true;
}

function applySightingUpdate(s, u) {
  const flags = s.flags;
  Object.assign(s, u, { flags });
  if (u.flags) s.allFlags = u.flags;
  const i = state.page.items.indexOf(s);
  const row = i >= 0 ? rowOf(i) : null;
  if (row) row.querySelector(".status").replaceWith(statusBadge(s.status));
  const m = state.smarkers.get(s.fid);
  if (m) m.setAttribute("class", `sighting-marker ${s.status}` + (state.sighting === s ? " selected" : ""));
  if (state.sighting === s) renderSightingDetail();
}

function drawSightingMarkers(g, rows, pts) {
  for (const [fid, lon, lat, cls, status, score, frames] of rows) {
    const [x, y] = state.proj.p(lon, lat);
    pts.push([x, y]);
    const c = svg("circle", { cx: x, cy: y, class: `sighting-marker ${status}`, "data-sid": fid });
    c.style.fill = colour(cls);
    const t = svg("title"); t.textContent = `${cls} sighting #${fid} ${fmtScore(score)}, ${frames} frame(s) (${status})`;
    c.append(t);
    c.addEventListener("click", (ev) => { ev.stopPropagation(); jumpToSighting(fid); });
    state.smarkers.set(fid, c);
    g.append(c);
  }
}

async function jumpToSighting(fid) {
  if (state.mode !== "sightings") await setMode("sightings");
  const i = state.page.items.findIndex((x) => x.fid === fid);
  if (i >= 0) return select(i);
  const s = await api(`/api/sightings/${fid}`);
  s.flags = s.flags.slice(0, 12);
  const prev = rowOf(state.sel);
  if (prev) prev.classList.remove("selected");
  state.sel = -1;
  await showSighting(s);
}

function markSelectedSighting() {
  for (const c of state.smarkers.values()) c.classList.remove("selected");
  const m = state.sighting && state.smarkers.get(state.sighting.fid);
  if (m) { m.classList.add("selected"); m.parentNode.append(m); }
}

async function setMode(mode) {
  state.mode = mode;
  $("mode-sightings").classList.toggle("current", mode === "sightings");
  $("mode-flags").classList.toggle("current", mode === "flags");
  $("mode-sightings").setAttribute("aria-pressed", String(mode === "sightings"));
  $("mode-flags").setAttribute("aria-pressed", String(mode === "flags"));
  document.body.dataset.mode = mode;
  // the address remembers the view, so a reload (or a shared link) opens the same list
  history.replaceState(null, "", mode === "flags" ? "#flags" : location.pathname + location.search);
  state.sighting = null;
  state.pendingOverride = null;
  state.page.offset = 0;
  await loadPage(0);
}
