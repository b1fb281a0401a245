/* Review page: the keyboard (a accept, r reject, u uncertain, j/k next/previous, n note).
 * Loaded before app.js (see index.html), whose helpers (el, api, state, ...) these
 * functions use when called.  Everything from the flight is put in the page as text. */
"use strict";

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
