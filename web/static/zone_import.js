// Draws the zones proposed from an OpenStreetMap extract on the zone review page's map, numbered as in the list;
// a dropped proposal is drawn faint, and clicking a shape takes the reader to its row.
"use strict";

(function () {
  const box = document.getElementById("map");
  const source = document.getElementById("osm-proposals");
  const map = box && box.truckguardMap;
  if (!map || !source) return;
  const shapes = JSON.parse(source.textContent);
  const row = (number) => document.getElementById(`proposal-${number}`);
  const keep = (number) => row(number)?.querySelector('input[name="keep"]');
  const style = (feature) => keep(feature.properties.number)?.checked
    ? { color: "#00838f", weight: 3, fillOpacity: 0.25, dashArray: null }
    : { color: "#757575", weight: 1, fillOpacity: 0.05, dashArray: "4 4" };

  const layer = L.geoJSON(shapes, {
    style,
    onEachFeature: (feature, shape) => {
      const label = document.createElement("span");  // text, never markup: names come from OpenStreetMap
      label.textContent = `${feature.properties.number}. ${feature.properties.name} (${feature.properties.kind})`;
      shape.bindTooltip(label);
      shape.on("click", () => {
        const target = row(feature.properties.number);
        if (!target) return;
        target.scrollIntoView({ block: "center" });
        target.querySelector('input[name^="name-"]')?.focus();
      });
    },
  }).addTo(map);

  document.getElementById("osm-review")?.addEventListener("change", (event) => {
    if (event.target.name === "keep") layer.setStyle(style);
  });
  const bounds = layer.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds.pad(0.1), { maxZoom: 17, animate: false });
  box.dataset.proposals = String(layer.getLayers().length);  // drawn and in place
})();
