// The notifications page's web-push switch: registers the service worker, subscribes this browser with the site's
// VAPID key and stores the subscription as one of the person's channels; says when this device already receives
// pushes, or why it cannot. Removing the channel on the page also ends the browser's subscription.
(function () {
  "use strict";
  var box = document.getElementById("web-push");
  if (!box || !box.dataset.key || !("serviceWorker" in navigator) || !("PushManager" in window) ||
      !window.Notification) { return; }
  var button = document.getElementById("push-on");
  box.hidden = false;

  function show(state) {
    ["on", "blocked", "failed"].forEach(function (name) {
      document.getElementById("push-state-" + name).hidden = name !== state;
    });
    button.hidden = state === "on" || state === "blocked";
  }

  var keyBytes = self.truckguardPushKeys.keyBytes;
  var sameKey = self.truckguardPushKeys.sameKey;

  function listed(endpoint) {
    var rows = document.querySelectorAll("[data-push-endpoint]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].dataset.pushEndpoint === endpoint) { return rows[i]; }
    }
    return null;
  }

  function device() {
    var data = navigator.userAgentData;
    if (data && data.brands) {
      var brand = data.brands.filter(function (b) { return !/Not.A.Brand|Chromium/i.test(b.brand); })[0];
      return [brand ? brand.brand : "", data.platform].filter(Boolean).join(" · ");
    }
    var match = /(Firefox|Edg|Chrome|Safari)\/[\d.]+/.exec(navigator.userAgent);
    return [match ? match[1].replace("Edg", "Edge") : "", navigator.platform].filter(Boolean).join(" · ");
  }

  function save(subscription) {
    var form = new FormData();
    form.append("csrf_token", box.querySelector("input[name=csrf_token]").value);
    form.append("kind", "webpush");
    form.append("label", ("push: " + device()).slice(0, 100));
    form.append("target", JSON.stringify(subscription));
    return fetch(box.dataset.add, {method: "POST", body: form, credentials: "same-origin"}).then(function (answer) {
      if (!answer.ok) { throw new Error("HTTP " + answer.status); }
    });
  }

  function registration() { return navigator.serviceWorker.register(box.dataset.worker); }

  function remember(endpoint) {
    // for the worker's pushsubscriptionchange: Chromium's event carries no old subscription, and the site finds the
    // channel to replace by its endpoint (push-worker.js reads it from the same place)
    if (!window.caches) { return Promise.resolve(); }
    var where = new URL("push-endpoint", new URL(box.dataset.worker, window.location.href)).href;
    return caches.open("truckguard-push").then(function (cache) {
      return cache.put(where, new Response(endpoint));
    }).catch(function () { return null; });
  }

  function subscribe() {
    var key = keyBytes(box.dataset.key);
    return registration().then(function (reg) {
      return reg.pushManager.getSubscription().then(function (held) {
        if (held && sameKey(held, key)) { return held; }
        // made with another key (the site's pair was replaced): browsers refuse a second key, so start afresh
        return (held ? held.unsubscribe() : Promise.resolve()).then(function () {
          return reg.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: key});
        });
      });
    });
  }

  button.addEventListener("click", function () {
    button.disabled = true;
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") { show("blocked"); return null; }
      return subscribe().then(function (subscription) {
        return save(subscription).then(function () { return remember(subscription.endpoint); });
      }).then(function () { window.location.reload(); });
    }).catch(function () { show("failed"); }).then(function () { button.disabled = false; });
  });

  if (Notification.permission === "denied") { show("blocked"); return; }
  navigator.serviceWorker.getRegistration(box.dataset.worker).then(function (reg) {
    return reg ? reg.pushManager.getSubscription() : null;
  }).then(function (held) {
    var row = held && listed(held.endpoint);
    if (!row) { return; }
    remember(held.endpoint);
    if (row.dataset.pushEnabled === "yes" && Notification.permission === "granted") { show("on"); }
    var remove = row.querySelector("form[action$='/remove']");
    if (remove) {
      remove.addEventListener("submit", function (event) {
        event.preventDefault();
        held.unsubscribe().catch(function () { return null; }).then(function () { remove.submit(); });
      });
    }
  }).catch(function () { return null; });
})();
