// Draws the site's offline base map (roads with their names, buildings, water, green space) under a Leaflet map.
"use strict";

(function () {
  const STYLE = {
    water: { stroke: false, fillColor: "#aad3df", fillOpacity: 1 },
    green: { stroke: false, fillColor: "#d4ebc4", fillOpacity: 1 },
    buildings: { color: "#c2b6aa", weight: 1, fillColor: "#ddd3ca", fillOpacity: 1 },
    waterway: { color: "#aad3df", weight: 3 },
  };
  // Casing under fill, as printed street maps draw them: a road reads as a road, not as a line.
  const ROADS = {
    major: { casing: "#c9a25e", fill: "#fcd68a", weight: 7, rank: 3 },
    secondary: { casing: "#b7b7b7", fill: "#ffffff", weight: 6, rank: 2 },
    minor: { casing: "#c8c8c8", fill: "#ffffff", weight: 4, rank: 1 },
    path: { casing: null, fill: "#d99a8c", weight: 1.2, rank: 0, dashArray: "4 3" },
  };
  const LABEL_MIN_ZOOM = 13;  // below it (~12 m a pixel at 52° N) names would crowd out the streets they name
  const CHAR_PX = 6.6;  // the width of one character of the 11 px label font, near enough to keep labels apart
  const SAME_NAME_PX = 260;  // one name once per this much screen, as a printed map repeats it

  function lines(geometry) {
    return geometry.type === "LineString" ? [geometry.coordinates] : geometry.coordinates;
  }

  // Where to write a road's name: the middle of its longest stretch, along it, never upside down.
  function anchor(map, feature) {
    let best = null;
    for (const line of lines(feature.geometry)) {
      for (let i = 1; i < line.length; i += 1) {
        const a = map.latLngToLayerPoint([line[i - 1][1], line[i - 1][0]]);
        const b = map.latLngToLayerPoint([line[i][1], line[i][0]]);
        const length = a.distanceTo(b);
        if (!best || length > best.length) best = { a, b, length };
      }
    }
    if (!best) return null;
    let angle = (Math.atan2(best.b.y - best.a.y, best.b.x - best.a.x) * 180) / Math.PI;
    if (angle > 90) angle -= 180;
    if (angle < -90) angle += 180;
    const middle = best.a.add(best.b).divideBy(2);
    return { point: middle, angle, length: best.length };
  }

  // Each road's extent, once: a city's base map has thousands of named roads and a pan must not walk them all.
  const extents = new WeakMap();
  function boundsOf(feature) {
    let bounds = extents.get(feature);
    if (!bounds) {
      bounds = L.latLngBounds([]);
      for (const line of lines(feature.geometry)) for (const [lon, lat] of line) bounds.extend([lat, lon]);
      extents.set(feature, bounds);
    }
    return bounds;
  }

  function labelBox(point, angle, width, height) {
    const r = (angle * Math.PI) / 180;
    const w = Math.abs(width * Math.cos(r)) + Math.abs(height * Math.sin(r));
    const h = Math.abs(width * Math.sin(r)) + Math.abs(height * Math.cos(r));
    return { x0: point.x - w / 2, x1: point.x + w / 2, y0: point.y - h / 2, y1: point.y + h / 2 };
  }

  const overlaps = (p, q) => p.x0 < q.x1 && q.x0 < p.x1 && p.y0 < q.y1 && q.y0 < p.y1;

  function labelNode(text, angle) {
    const node = document.createElement("span");
    node.className = "basemap-label";
    node.textContent = text;  // names come from the extract: text, never markup
    // Set through the DOM (the site's Content-Security-Policy allows no inline style attributes).
    Object.assign(node.style, {
      display: "inline-block", whiteSpace: "nowrap", font: "11px/1 system-ui, sans-serif", color: "#333",
      textShadow: "0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff", transform: `translate(-50%, -50%) rotate(${angle}deg)`,
      pointerEvents: "none",
    });
    return node;
  }

  function drawLabels(map, roads, group) {
    group.clearLayers();
    const box = map.getContainer();
    box.dataset.basemapZoom = String(map.getZoom());
    box.dataset.basemapLabels = "0";
    if (map.getZoom() < LABEL_MIN_ZOOM) return;
    const placed = [];
    const byName = new Map();
    const inView = map.getBounds();
    const candidates = roads
      .filter((f) => f.properties.name && boundsOf(f).intersects(inView))
      .map((f) => ({ feature: f, spot: anchor(map, f) }))
      .filter((c) => c.spot)
      .sort((p, q) => ROADS[q.feature.properties.class].rank - ROADS[p.feature.properties.class].rank ||
        q.spot.length - p.spot.length);
    const view = map.getPixelBounds();
    const origin = map.getPixelOrigin();
    for (const { feature, spot } of candidates) {
      const name = feature.properties.name;
      const width = name.length * CHAR_PX;
      if (spot.length < width * 0.6) continue;  // a stub of a street cannot carry its name
      const onScreen = spot.point.add(origin);
      if (!view.contains(onScreen)) continue;
      const seen = byName.get(name) || [];
      if (seen.some((p) => p.distanceTo(spot.point) < SAME_NAME_PX)) continue;
      const room = labelBox(spot.point, spot.angle, width, 13);
      if (placed.some((other) => overlaps(room, other))) continue;
      placed.push(room);
      seen.push(spot.point);
      byName.set(name, seen);
      const icon = L.divIcon({ className: "basemap-label-anchor", html: labelNode(name, spot.angle), iconSize: null });
      L.marker(map.layerPointToLatLng(spot.point), { icon, interactive: false, keyboard: false, pane: "basemapLabels" })
        .addTo(group);
    }
    box.dataset.basemapLabels = String(placed.length);
  }

  function draw(map, doc) {
    if (!map.getPane("basemap")) {
      map.createPane("basemap").style.zIndex = 250;  // under Leaflet's overlays (400): zones, tracks, vehicles
      map.createPane("basemapLabels").style.zIndex = 350;
    }
    const renderer = L.canvas({ pane: "basemap", padding: 0.3 });
    const base = { renderer, interactive: false, pane: "basemap" };
    const layers = doc.layers;
    L.geoJSON(layers.water, { ...base, style: (f) => (f.properties.class === "waterway" ? STYLE.waterway : STYLE.water) })
      .addTo(map);
    L.geoJSON(layers.green, { ...base, style: STYLE.green }).addTo(map);
    L.geoJSON(layers.buildings, { ...base, style: STYLE.buildings }).addTo(map);
    const roads = layers.roads.features;
    // All casings first, then all fills: crossings merge as they do on the street.
    L.geoJSON({ type: "FeatureCollection", features: roads.filter((f) => ROADS[f.properties.class].casing) }, {
      ...base, style: (f) => {
        const r = ROADS[f.properties.class];
        return { color: r.casing, weight: r.weight + 2, lineCap: "round", lineJoin: "round" };
      },
    }).addTo(map);
    L.geoJSON(layers.roads, {
      ...base, style: (f) => {
        const r = ROADS[f.properties.class];
        return { color: r.fill, weight: r.weight, dashArray: r.dashArray || null, lineCap: "round", lineJoin: "round" };
      },
    }).addTo(map);
    const labels = L.layerGroup().addTo(map);
    const relabel = () => drawLabels(map, roads, labels);
    map.on("zoomend moveend", relabel);
    relabel();
    if (map.attributionControl) {
      const text = document.createElement("span");
      text.textContent = doc.attribution;  // "© OpenStreetMap contributors": the ODbL asks for it on the map
      map.attributionControl.addAttribution(text.outerHTML);
    }
    const box = map.getContainer();
    box.classList.add("with-basemap");
    box.dataset.basemap = "drawn";
    box.dataset.basemapRoads = String(roads.length);
  }

  // Draws the base map under `map` unless a tile server draws one; resolves when it is drawn (or known absent).
  window.truckguardBasemap = async function (map, url) {
    const box = map.getContainer();
    if (box.dataset.tiles) return;
    try {
      const response = await fetch(url || "/basemap.json", { headers: { Accept: "application/json" } });
      if (!response.ok) { box.dataset.basemap = `absent (${response.status})`; return; }
      draw(map, await response.json());
    } catch (error) {
      box.dataset.basemap = `failed: ${error}`;
    }
  };
})();
