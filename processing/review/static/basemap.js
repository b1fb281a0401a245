/* The park's own map under everything on the review map (uav review --base-map).  Like the
 * mosaic, the server hands one picture on a regular longitude/latitude grid and its bounds
 * (/api/base-map), so its two corners place it exactly.  It is the bottom layer: under the
 * mosaic, the frame pictures, the footprints and the sightings; the "base map" box toggles it.
 * app.js's map (map.js) calls baseMapLayer.draw(root, proj) once the map is built. */
"use strict";

window.baseMapLayer = (() => {
  const SVGNS = "http://www.w3.org/2000/svg";

  async function draw(root, proj) {
    const box = document.getElementById("show-base-map");
    const label = box.closest("label");
    const res = await fetch("/api/base-map", { headers: { "Accept": "application/json" } });
    const info = await res.json();
    if (!res.ok) throw new Error(`base map: ${info.error || res.status}`);
    if (!info.available) {
      box.checked = false;
      box.disabled = true;
      label.title = info.why;   // says how to show one, or why the recorded one is not shown
      document.body.dataset.baseMap = "none";
      return;
    }
    const [west, south, east, north] = info.bounds;
    const [x0, y0] = proj.p(west, north), [x1, y1] = proj.p(east, south);
    const g = document.createElementNS(SVGNS, "g");
    g.id = "map-base";
    const im = document.createElementNS(SVGNS, "image");
    for (const [k, v] of Object.entries({ x: x0, y: y0, width: x1 - x0, height: y1 - y0,
      preserveAspectRatio: "none", class: "base-map" })) im.setAttribute(k, String(v));
    im.setAttribute("href", info.image);
    const t = document.createElementNS(SVGNS, "title");
    const part = info.covered < 0.99 ? `, covers ${Math.round(info.covered * 100)}% of the flight` : "";
    t.textContent = `${info.name}: base map (${info.kind}${part})`;
    im.append(t);
    g.append(im);
    root.prepend(g);   // first child, under the mosaic too (mosaic.js puts itself after this one)
    label.title = t.textContent;
    box.disabled = false;
    box.checked = true;
    box.addEventListener("change", () => { g.style.display = box.checked ? "" : "none"; });
    await new Promise((resolve) => {
      im.addEventListener("load", resolve, { once: true });
      im.addEventListener("error", resolve, { once: true });
    });
    document.body.dataset.baseMap = "shown";
  }
  return { draw };
})();
