/* A picture laid under the review map by its two corners: the flight's mosaic (mosaic.js) and
 * the park's base map (basemap.js).  The server hands one picture on a regular
 * longitude/latitude grid and its bounds; the map's projection is linear in both, so placing
 * the two corners places every pixel exactly.  A tick box shows and hides it; when there is
 * none, the box is greyed out and its tooltip gives the server's reason. */
"use strict";

window.mapPicture = (() => {
  const SVGNS = "http://www.w3.org/2000/svg";

  /* opts: api (its JSON: available, why, bounds, image, name, kind), box (the tick box), id
   * and cls (of the <g> and <image>), what (for errors), title(info) (its tooltip), place(g)
   * (puts the layer among the map's), shown() (after it is placed), dataKey (body.dataset key:
   * "none", then "shown" once the picture has loaded or failed to). */
  async function draw(root, proj, opts) {
    const box = opts.box;
    const label = box.closest("label");
    const res = await fetch(opts.api, { headers: { "Accept": "application/json" } });
    const info = await res.json();
    if (!res.ok) throw new Error(`${opts.what}: ${info.error || res.status}`);
    if (!info.available) {
      box.checked = false;
      box.disabled = true;
      label.title = info.why;
      document.body.dataset[opts.dataKey] = "none";
      return;
    }
    const [west, south, east, north] = info.bounds;
    const [x0, y0] = proj.p(west, north), [x1, y1] = proj.p(east, south);
    const g = document.createElementNS(SVGNS, "g");
    g.id = opts.id;
    const im = document.createElementNS(SVGNS, "image");
    for (const [k, v] of Object.entries({ x: x0, y: y0, width: x1 - x0, height: y1 - y0,
      preserveAspectRatio: "none", class: opts.cls })) im.setAttribute(k, String(v));
    im.setAttribute("href", info.image);
    const t = document.createElementNS(SVGNS, "title");
    t.textContent = opts.title(info);
    im.append(t);
    g.append(im);
    opts.place(g);
    label.title = t.textContent;
    box.disabled = false;
    box.checked = true;
    box.addEventListener("change", () => { g.style.display = box.checked ? "" : "none"; });
    if (opts.shown) opts.shown();
    await new Promise((resolve) => {
      im.addEventListener("load", resolve, { once: true });
      im.addEventListener("error", resolve, { once: true });
    });
    document.body.dataset[opts.dataKey] = "shown";
  }
  return { draw };
})();
