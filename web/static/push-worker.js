// The site's service worker for web push: shows each notice the notifier pushed, even with no page of the site open,
// and opens the alert or stop request it links to when the person taps it. Registered by push.js; its scope is
// /static/, which is enough: push and notification clicks reach a worker whatever pages it controls.
"use strict";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (event) {
  var notice = {};
  if (event.data) {
    try { notice = event.data.json(); } catch (e) { notice = {title: event.data.text()}; }
  }
  var options = {body: notice.body || "", data: {url: notice.url || "/"},
                 requireInteraction: notice.severity === "critical"};
  if (notice.tag) {
    // a later notice of the same alert or stop request replaces the earlier one, and still rings
    options.tag = notice.tag;
    options.renotify = true;
  }
  event.waitUntil(self.registration.showNotification(notice.title || "truckguard", options));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = (event.notification.data && event.notification.data.url) || "/";
  event.waitUntil(self.clients.matchAll({type: "window", includeUncontrolled: true}).then(function (open) {
    for (var i = 0; i < open.length; i++) {
      if (open[i].url === url && "focus" in open[i]) { return open[i].focus(); }
    }
    return self.clients.openWindow(url);
  }));
});
