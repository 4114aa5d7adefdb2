// Counts a stop request's time left down to its expiry, once a second, from the expiry time the server gave; at
// expiry it says so in the reader's language (the page's data-expired).
"use strict";

(function () {
  const format = (seconds) => {
    const total = Math.max(0, Math.round(seconds));
    if (total < 60) return `${total} s`;
    if (total < 3600) return `${Math.floor(total / 60)} min ${String(total % 60).padStart(2, "0")} s`;
    return `${Math.floor(total / 3600)} h ${String(Math.floor((total % 3600) / 60)).padStart(2, "0")} min`;
  };
  for (const node of document.querySelectorAll("time.countdown[data-expires]")) {
    const expires = Date.parse(node.dataset.expires);
    if (Number.isNaN(expires)) continue;
    const tick = () => {
      const left = (expires - Date.now()) / 1000;
      node.textContent = left > 0 ? format(left) : node.dataset.expired || "expired: reload the page";
      if (left > 0) window.setTimeout(tick, 1000);
    };
    tick();
  }
})();
