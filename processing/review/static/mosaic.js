/* The flight's mosaic under the review map (issue 24).  The server hands one picture on a
 * regular longitude/latitude grid and its bounds (/api/mosaic); the map's projection is linear
 * in longitude and latitude, so placing the picture's two corners places every pixel exactly.
 * It goes under the frame pictures, footprints, track and flags, and the "mosaic" box toggles
 * it.  app.js calls mosaicLayer.draw(root, proj) once the map is built. */
"use strict";

window.mosaicLayer = (() => {
  const SVGNS = "http://www.w3.org/2000/svg";

  async function draw(root, proj) {
    const box = document.getElementById("show-mosaic");
    const label = box.closest("label");
    const res = await fetch("/api/mosaic", { headers: { "Accept": "application/json" } });
    const info = await res.json();
    if (!res.ok) throw new Error(`mosaic: ${info.error || res.status}`);
    if (!info.available) {
      box.checked = false;
      box.disabled = true;
      label.title = info.why;   // says how to make one
      document.body.dataset.mosaic = "none";
      return;
    }
    const [west, south, east, north] = info.bounds;
    const [x0, y0] = proj.p(west, north), [x1, y1] = proj.p(east, south);
    const g = document.createElementNS(SVGNS, "g");
    g.id = "map-mosaic";
    const im = document.createElementNS(SVGNS, "image");
    for (const [k, v] of Object.entries({ x: x0, y: y0, width: x1 - x0, height: y1 - y0,
      preserveAspectRatio: "none", class: "mosaic" })) im.setAttribute(k, String(v));
    im.setAttribute("href", info.image);
    const t = document.createElementNS(SVGNS, "title");
    t.textContent = `${info.name}: ${info.kind} mosaic, ${Number(info.res_m).toFixed(2)} m cells`;
    im.append(t);
    g.append(im);
    // under everything else but the park's base map (basemap.js), whichever arrives first
    const base = root.querySelector(":scope > #map-base");
    if (base) base.after(g); else root.prepend(g);
    label.title = t.textContent;
    box.disabled = false;
    box.checked = true;
    const show = () => { g.style.display = box.checked ? "" : "none"; };
    box.addEventListener("change", show);
    // The mosaic replaces the frames' own pictures as the background; they stay one click away.
    const pics = document.getElementById("show-pictures");
    if (pics.checked) { pics.checked = false; pics.dispatchEvent(new Event("change")); }
    await new Promise((resolve) => {
      im.addEventListener("load", resolve, { once: true });
      im.addEventListener("error", resolve, { once: true });
    });
    document.body.dataset.mosaic = "shown";
  }
  return { draw };
})();
