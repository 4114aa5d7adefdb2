// Draws one vehicle's track on the vendored Leaflet map: where it is now and under what speed limit, its zones,
// and on an alert's page where the alert was raised and the course the detector projected into the zone.
"use strict";

(function () {
  const FOCUS_MS = 120000;
  const box = document.getElementById("track-map");
  if (!box || !window.L) return;
  const map = L.map(box, { zoomControl: true });
  if (box.dataset.tiles) {
    L.tileLayer(box.dataset.tiles, { maxZoom: 19, attribution: "map tiles" }).addTo(map);
  } else {
    box.classList.add("no-tiles");
    if (window.truckguardBasemap) window.truckguardBasemap(map);
  }
  map.setView([52.52, 13.40], 11);
  const zones = L.geoJSON(null, { style: { color: "#8e24aa", weight: 2, fillOpacity: 0.15 } }).addTo(map);
  const path = L.polyline([], { color: "#1565c0", weight: 3 }).addTo(map);
  const projected = L.polyline([], { color: "#c62828", weight: 3, dashArray: "8 6" }).addTo(map);
  const raised = L.circleMarker([0, 0], { radius: 7, weight: 3, color: "#c62828", fillColor: "#fff", fillOpacity: 1 });
  const here = L.circleMarker([0, 0], { radius: 8, weight: 2, color: "#fff", fillOpacity: 0.95, fillColor: "#1565c0" });
  // A governed vehicle wears a ring: the on-board zone guard or an authorised command holds its speed down.
  const governed = L.circleMarker([0, 0], { radius: 14, weight: 3, color: "#2e7d32", fill: false, dashArray: "4 3" });

  const text = (value) => {
    const node = document.createElement("span");  // text, never markup: ids and names come from others' data
    node.textContent = value;
    return node;
  };

  // `speed_governor` of the contract: {active, limit_kmh, zone_id, source}; source zone, command or none.
  function governorText(governor) {
    if (!governor || !governor.active) return "";
    const limit = governor.limit_kmh == null ? "a limit" : `${governor.limit_kmh} km/h`;
    const by = governor.source === "command" ? "by an authorised stop command"
      : governor.source === "zone" ? `by the on-board zone guard${governor.zone_id ? " (" + governor.zone_id + ")" : ""}`
        : "";
    return `speed governed to ${limit} ${by}`.trim();
  }

  async function getJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
    return response.ok ? response.json() : null;
  }

  async function load(first) {
    const [feature, layers] = await Promise.all([
      getJson(box.dataset.source), first && box.dataset.zones ? getJson(box.dataset.zones) : null]);
    if (layers) zones.addData(layers.zones);
    if (!feature) return;
    const p = feature.properties;
    const line = feature.geometry.coordinates.map(([lon, lat]) => [lat, lon]);
    path.setLatLngs(line);
    if (first && p.zone) zones.addData(p.zone);
    if (p.projected) {
      projected.setLatLngs(p.projected.geometry.coordinates.map(([lon, lat]) => [lat, lon]));
      const seconds = p.projected.properties.time_to_boundary_s;
      projected.bindTooltip(text(`projected course: ${Math.round(p.projected.properties.along_course_m)} m to the ` +
        `zone${seconds == null ? "" : ", about " + Math.round(seconds) + " s"}`));
    }
    if (p.alert) {
      raised.setLatLng([p.alert.lat, p.alert.lon]).addTo(map);
      raised.bindTooltip(text(`alert raised here at ${p.alert.ts}`));
    }
    const position = p.position;
    if (position) {
      here.setLatLng([position.lat, position.lon]).addTo(map);
      const rule = governorText(position.speed_governor);
      // Whole km/h, as the pages write speeds: a parked truck's GNSS reports 0.0039 km/h, not a speed.
      const speed = position.speed_kmh == null ? "?" : Math.round(position.speed_kmh);
      here.bindTooltip(text(`${p.vehicle_id}: ${speed} km/h at ${position.ts}` +
        (rule ? `; ${rule}` : "")));
      if (rule) {
        governed.setLatLng([position.lat, position.lon]).addTo(map).bindTooltip(text(rule));
      } else {
        governed.remove();
      }
      box.dataset.governor = rule;
    }
    if (first) {
      // On an alert's page the last two minutes before it matter: the whole track stays drawn, a zoom out away.
      const recent = p.alert ? p.points.filter((q) => Date.parse(q.ts) >= Date.parse(p.alert.ts) - FOCUS_MS)
        .map((q) => [q.lat, q.lon]) : line;
      const bounds = L.latLngBounds(recent);
      if (position) bounds.extend([position.lat, position.lon]);
      if (p.alert) bounds.extend([p.alert.lat, p.alert.lon]);
      if (p.projected) bounds.extend(projected.getBounds());
      if (p.zone) bounds.extend(L.geoJSON(p.zone).getBounds());
      if (bounds.isValid()) map.fitBounds(bounds.pad(0.2), { maxZoom: 17, animate: false });
    }
    box.dataset.points = String(line.length);  // loaded and in place
  }

  load(true).catch((error) => { box.dataset.error = String(error); });
  window.setInterval(() => load(false).catch(() => {}), 5000);
})();
