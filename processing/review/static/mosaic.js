/* The flight's mosaic under the review map (issue 24), placed by its corners (picture.js,
 * /api/mosaic).  It goes under the frame pictures, footprints, track and flags, above the
 * park's base map, and the "mosaic" box toggles it.  app.js calls mosaicLayer.draw(root, proj)
 * once the map is built. */
"use strict";

window.mosaicLayer = (() => {
  function draw(root, proj) {
    return window.mapPicture.draw(root, proj, {
      api: "/api/mosaic", box: document.getElementById("show-mosaic"), id: "map-mosaic",
      cls: "mosaic", what: "mosaic", dataKey: "mosaic",
      title: (info) => `${info.name}: ${info.kind} mosaic, ${Number(info.res_m).toFixed(2)} m cells`,
      place: (g) => {
        // under everything else but the park's base map (basemap.js), whichever arrives first
        const base = root.querySelector(":scope > #map-base");
        if (base) base.after(g); else root.prepend(g);
      },
      shown: () => {
        // the mosaic replaces the frames' own pictures as the background; one click away
        const pics = document.getElementById("show-pictures");
        if (pics.checked) { pics.checked = false; pics.dispatchEvent(new Event("change")); }
      },
    });
  }
  return { draw };
})();
