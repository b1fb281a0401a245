/* Review page: deciding a flag or a sighting (accept, reject, uncertain) and applying the answer.
 * Loaded before app.js (see index.html), whose helpers (el, api, state, ...) these
 * functions use when called.  Everything from the flight is put in the page as text. */
"use strict";

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
