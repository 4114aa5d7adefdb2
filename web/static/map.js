// Draws the fleet map with the vendored Leaflet over the offline base map: vehicles (and the speed limit that
// governs them), trips, sites, zones; live by /events; draws zones.
"use strict";

(function () {
  const box = document.getElementById("map");
  if (!box || !window.L) return;
  const map = L.map(box, { preferCanvas: false, zoomControl: true });
  if (box.dataset.tiles) {
    L.tileLayer(box.dataset.tiles, { maxZoom: 19, attribution: "map tiles" }).addTo(map);
  } else {
    box.classList.add("no-tiles");  // no tile server: vector layers over the site's own base map
    if (window.truckguardBasemap) window.truckguardBasemap(map);
  }
  map.setView([52.52, 13.40], 11);
  box.truckguardMap = map;  // for a page's own script that adds layers (zone_import.js: proposed zones)

  // The heading rounded, with its compass point in the reader's language (as web/display.py heading()).
  const words = JSON.parse(document.getElementById("live-words")?.textContent || "{}");
  const COMPASS = words.compass || ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W",
    "WNW", "NW", "NNW"];
  const heading = (deg) => deg === null || deg === undefined ? "?"
    : `${Math.round(deg) % 360}° ${COMPASS[Math.round((((deg % 360) + 360) % 360) / 22.5) % 16]}`;

  const textNode = (text) => {
    const node = document.createElement("span");
    node.textContent = text;
    return node;
  };

  // Vehicles at one place (trucks parked side by side at a depot) are drawn on a small ring around it, not as one
  // dot. The ring is measured in pixels, so they stay apart at any zoom; it is redrawn when the zoom changes.
  const ringPx = (size) => Math.max(12, (9 * size) / Math.PI);
  const spread = (ll, p) => {
    if (!p.stack_size || p.stack_size < 2) return ll;
    const angle = (2 * Math.PI * (p.stack_index || 0)) / p.stack_size;
    const r = ringPx(p.stack_size);
    const at = map.latLngToLayerPoint(ll).add(L.point(r * Math.sin(angle), -r * Math.cos(angle)));
    return map.layerPointToLatLng(at);
  };

  // `speed_governor` of the contract: {active, limit_kmh, zone_id, source}; source zone, command or none.
  const governorText = (g) => {
    if (!g || !g.active) return "";
    const limit = g.limit_kmh == null ? "a limit" : `${g.limit_kmh} km/h`;
    const by = g.source === "command" ? " by an authorised stop command"
      : g.source === "zone" ? ` by the on-board zone guard${g.zone_id ? " (" + g.zone_id + ")" : ""}` : "";
    return `speed governed to ${limit}${by}`;
  };

  const COLORS = { alert: "#c62828", moving: "#1565c0", stopped: "#2e7d32", stale: "#757575", no_position: "#757575" };
  const layers = {
    zones: L.geoJSON(null, { style: { color: "#8e24aa", weight: 2, fillOpacity: 0.15 } }).addTo(map),
    trips: L.geoJSON(null, { style: { color: "#ef6c00", weight: 3, dashArray: "6 4" } }).addTo(map),
    sites: L.geoJSON(null, {
      pointToLayer: (f, ll) => L.circle(ll, { radius: f.properties.radius_m || 100, color: "#546e7a", weight: 1 }),
    }).addTo(map),
    vehicles: L.geoJSON(null, {
      // A governed vehicle wears a green ring: the zone guard or an authorised command holds its speed down.
      pointToLayer: (f, ll) => Object.assign(L.circleMarker(spread(ll, f.properties), {
        radius: 8, weight: governorText(f.properties.speed_governor) ? 4 : 2,
        color: governorText(f.properties.speed_governor) ? "#2e7d32" : "#fff",
        fillOpacity: 0.95, fillColor: COLORS[f.properties.status] || "#1565c0",
      }), { home: ll }),
      onEachFeature: (f, layer) => {
        const p = f.properties;
        const text = `${p.vehicle_id}${p.plate ? " (" + p.plate + ")" : ""}: ${String(p.status).replace("_", " ")}, ` +
          `${p.speed_kmh == null ? "?" : Math.round(p.speed_kmh)} km/h, heading ${heading(p.heading_deg)}, ${p.open_alerts} open alert(s)` +
          (governorText(p.speed_governor) ? `; ${governorText(p.speed_governor)}` : "");
        // Leaflet puts a string into innerHTML: hand it nodes whose text is set, so a plate stays text.
        layer.bindTooltip(textNode(text));
        layer.bindPopup(textNode(text));
      },
    }).addTo(map),
  };
  map.on("zoomend", () => layers.vehicles.eachLayer((layer) => {
    if (layer.home && layer.feature.properties.stack_size > 1) layer.setLatLng(spread(layer.home, layer.feature.properties));
  }));
  L.control.layers(null, { Vehicles: layers.vehicles, "Planned trips": layers.trips, Sites: layers.sites,
    "Protected zones": layers.zones }).addTo(map);

  // A request's map shows where it was raised, where the vehicle is now and the zone it threatens.
  const focusBounds = () => {
    const { focusVehicle, focusZone, lat, lon } = box.dataset;
    const bounds = L.latLngBounds([]);
    if (!focusVehicle && !focusZone) return bounds;
    if (lat) bounds.extend([Number(lat), Number(lon)]);
    layers.vehicles.eachLayer((layer) => {
      if (layer.feature.properties.vehicle_id === focusVehicle) bounds.extend(layer.getLatLng());
    });
    layers.zones.eachLayer((layer) => {
      if (layer.feature.properties.zone_id === focusZone) bounds.extend(layer.getBounds());
    });
    return bounds;
  };

  let fitted = box.dataset.fit === "page";  // the page's own script chooses what the view shows
  async function load() {
    try {
      const response = await fetch(box.dataset.source, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (!response.ok) return;
      const data = await response.json();
      for (const name of Object.keys(layers)) {
        layers[name].clearLayers();
        layers[name].addData(data[name]);
      }
      if (!fitted) {
        fitted = true;
        const focus = focusBounds();
        if (focus.isValid()) {
          map.fitBounds(focus.pad(0.25), { maxZoom: 16, animate: false });
        } else if (box.dataset.lat) {
          map.setView([Number(box.dataset.lat), Number(box.dataset.lon)], 14, { animate: false });
        } else {
          const bounds = L.featureGroup([layers.vehicles, layers.zones, layers.trips, layers.sites]).getBounds();
          // maxZoom: one vehicle alone has bounds of no size, which would zoom in without end (no tile layer caps it)
          if (bounds.isValid()) map.fitBounds(bounds.pad(0.1), { maxZoom: 16, animate: false });
        }
      }
      box.dataset.vehicles = String(data.vehicles.features.length);  // loaded and in place
    } catch (error) {
      box.dataset.error = String(error);
    }
  }
  load();

  if (box.dataset.live && window.EventSource) {
    let pending = null;
    const soon = () => { clearTimeout(pending); pending = setTimeout(load, 300); };
    // A site process at its cap of live consoles answers 503, after which the browser gives up on the stream:
    // try again after half a minute or so (spread out, so turned-away maps do not all come back at once).
    const listen = () => {
      const events = new EventSource("/events");
      events.addEventListener("positions", soon);
      events.addEventListener("alert", soon);
      events.addEventListener("error", () => {
        if (events.readyState === EventSource.CLOSED) setTimeout(listen, 30000 + Math.random() * 15000);
      });
    };
    listen();
  }

  // Drawing a zone: each click adds a corner; the polygon's GeoJSON goes into the form's textarea.
  const field = box.dataset.draw && document.getElementById(box.dataset.draw);
  if (field) {
    const corners = [];
    const shape = L.polygon([], { color: "#8e24aa" }).addTo(map);
    const sync = () => {
      shape.setLatLngs(corners);
      field.value = corners.length >= 3 ? JSON.stringify({ type: "Polygon", coordinates: [
        [...corners, corners[0]].map((ll) => [Number(ll.lng.toFixed(6)), Number(ll.lat.toFixed(6))])] }) : "";
    };
    map.on("click", (event) => { corners.push(event.latlng); sync(); });
    document.getElementById("draw-undo").addEventListener("click", () => { corners.pop(); sync(); });
    document.getElementById("draw-clear").addEventListener("click", () => { corners.length = 0; sync(); });
  }
})();
