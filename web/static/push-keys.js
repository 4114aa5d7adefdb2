// What the notifications page (push.js) and the service worker (push-worker.js) both need to know of the site's
// VAPID key: its bytes, and whether a browser's subscription was made with it. Loaded by the page with a <script>
// and by the worker with importScripts, so both read the same code.
"use strict";

self.truckguardPushKeys = {
  // The base64url public key (as the site gives it) as the bytes PushManager.subscribe wants.
  keyBytes: function (text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(b64 + "===".slice((b64.length + 3) % 4));
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes;
  },
  // Whether a subscription was made with these key bytes.
  sameKey: function (subscription, key) {
    var held = subscription.options && subscription.options.applicationServerKey;
    if (!held) { return true; }  // browsers that do not say: trust it, the push service will refuse otherwise
    held = new Uint8Array(held);
    return held.length === key.length && held.every(function (b, i) { return b === key[i]; });
  },
};
