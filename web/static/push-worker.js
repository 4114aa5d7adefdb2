// The site's service worker for web push: shows each notice the notifier pushed, even with no page of the site open,
// opens the alert or stop request it links to when the person taps it, and, when the browser rotates or drops the
// subscription, subscribes again and tells the site. Registered by push.js; its scope is /static/, which is enough:
// push, notification clicks and subscription changes reach a worker whatever pages it controls.
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

// The endpoint the site holds for this browser, written by push.js when it saves the subscription and here after a
// renewal: Chromium fires pushsubscriptionchange with no oldSubscription, and the site needs it to find the channel.
var REMEMBERED = new URL("push-endpoint", self.location.href).href;
var SITE = new URL("../notifications/push", self.location.href).href;

importScripts("push-keys.js");
var keyBytes = self.truckguardPushKeys.keyBytes;
var sameKey = self.truckguardPushKeys.sameKey;

function remembered() {
  return caches.open("truckguard-push").then(function (cache) { return cache.match(REMEMBERED); })
    .then(function (answer) { return answer ? answer.text() : ""; }).catch(function () { return ""; });
}

function remember(endpoint) {
  return caches.open("truckguard-push").then(function (cache) {
    return cache.put(REMEMBERED, new Response(endpoint));
  }).catch(function () { return null; });
}

function asked(answer) {
  // redirect "manual": signed out, the site sends the login page, which must not count as an answer
  if (!answer.ok) { throw new Error("the site answered " + (answer.status || "with a redirect (signed out?)")); }
  return answer.json();
}

function subscribed(key) {
  // the browser's new subscription when it made one with the site's key; else a fresh one (the old was dropped, or
  // made with a key the site has since replaced: a browser takes one key per subscription, so end that first)
  var push = self.registration.pushManager;
  return push.getSubscription().then(function (held) {
    if (held && sameKey(held, key)) { return held; }
    return (held ? held.unsubscribe() : Promise.resolve()).then(function () {
      return push.subscribe({userVisibleOnly: true, applicationServerKey: key});
    });
  });
}

// The site's key and a CSRF token come from the site at the time (the worker has no page to read them from); the
// site replaces the channel holding the old endpoint, or adds one when neither the event nor push.js gave it.
function renewPushSubscription(oldSubscription) {
  var oldEndpoint = oldSubscription && oldSubscription.endpoint;
  return fetch(SITE, {credentials: "include", redirect: "manual", headers: {Accept: "application/json"}})
    .then(asked).then(function (site) {
      if (!site.key) { throw new Error("the site offers no web push (no VAPID key)"); }
      return Promise.all([subscribed(keyBytes(site.key)), oldEndpoint ? oldEndpoint : remembered()])
        .then(function (both) {
          var form = new FormData();
          form.append("target", JSON.stringify(both[0]));
          form.append("old_endpoint", both[1]);
          return fetch(new URL(site.renew, SITE).href, {method: "POST", body: form, credentials: "include",
                                                        redirect: "manual", headers: {"X-CSRFToken": site.csrf_token}})
            .then(asked).then(function (answer) { return remember(both[0].endpoint).then(function () {
              return answer;
            }); });
        });
    });
}
self.renewPushSubscription = renewPushSubscription;  // for tests: a synthetic event's waitUntil throws

self.addEventListener("pushsubscriptionchange", function (event) {
  event.waitUntil(renewPushSubscription(event.oldSubscription));
});
