// Draws one vehicle's last hour on the vendored Leaflet map: its track, where it is now, the protected zones.
"use strict";

(function () {
  const box = document.getElementById("track-map");
  if (!box || !window.L) return;
  const map = L.map(box, { zoomControl: true });
  if (box.dataset.tiles) {
    L.tileLayer(box.dataset.tiles, { maxZoom: 19, attribution: "map tiles" }).addTo(map);
  } else {
    box.classList.add("no-tiles");
  }
  map.setView([52.52, 13.40], 11);
  const zones = L.geoJSON(null, { style: { color: "#8e24aa", weight: 2, fillOpacity: 0.15 } }).addTo(map);
  const path = L.polyline([], { color: "#1565c0", weight: 3 }).addTo(map);
  const here = L.circleMarker([0, 0], { radius: 8, weight: 2, color: "#fff", fillOpacity: 0.95, fillColor: "#1565c0" });

  async function getJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
    return response.ok ? response.json() : null;
  }

  async function load(first) {
    const [feature, layers] = await Promise.all([getJson(box.dataset.source), first ? getJson(box.dataset.zones) : null]);
    if (layers) zones.addData(layers.zones);
    if (!feature) return;
    const line = feature.geometry.coordinates.map(([lon, lat]) => [lat, lon]);
    path.setLatLngs(line);
    const position = feature.properties.position;
    if (position) {
      here.setLatLng([position.lat, position.lon]).addTo(map);
      const tip = document.createElement("span");  // text, never markup: ids come from vehicles' own data
      tip.textContent = `${feature.properties.vehicle_id}: ${position.speed_kmh ?? "?"} km/h at ${position.ts}`;
      here.bindTooltip(tip);
    }
    if (first) {
      const bounds = L.latLngBounds(line);
      if (position) bounds.extend([position.lat, position.lon]);
      if (bounds.isValid()) map.fitBounds(bounds.pad(0.2), { maxZoom: 16 });
    }
  }

  load(true).catch(() => {});
  window.setInterval(() => load(false).catch(() => {}), 5000);
})();
