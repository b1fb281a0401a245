/* Review page: the map drawn from the frames: footprints, track, markers, frame pictures.
 * Loaded before app.js (see index.html), whose helpers (el, api, state, ...) these
 * functions use when called.  Everything from the flight is put in the page as text. */
"use strict";

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
  window.baseMapLayer.draw(root, state.proj).catch(showError);  // basemap.js: the park's map under that
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
