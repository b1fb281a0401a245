/* The park's own map under everything on the review map (uav review --base-map), placed by its
 * corners like the mosaic (picture.js, /api/base-map).  It is the bottom layer: under the
 * mosaic, the frame pictures, the footprints and the sightings; the "base map" box toggles it.
 * app.js's map (map.js) calls baseMapLayer.draw(root, proj) once the map is built. */
"use strict";

window.baseMapLayer = (() => {
  function draw(root, proj) {
    return window.mapPicture.draw(root, proj, {
      api: "/api/base-map", box: document.getElementById("show-base-map"), id: "map-base",
      cls: "base-map", what: "base map", dataKey: "baseMap",
      title: (info) => {
        const part = info.covered < 0.99 ? `, covers ${Math.round(info.covered * 100)}% of the flight` : "";
        return `${info.name}: base map (${info.kind}${part})`;
      },
      place: (g) => root.prepend(g),   // first: under the mosaic too (mosaic.js goes after it)
    });
  }
  return { draw };
})();
