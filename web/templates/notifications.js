// Shows the signed-in person's browser notices: an in-page notice on every open page, and a desktop notification
// when they allowed it. The site's /notifications/events answers at once and the browser asks again (SSE retry).
(function () {
  "use strict";
  if (!window.EventSource) { return; }
  var WORDS = {open: {{ _("Open") | tojson }}, close: {{ _("Dismiss") | tojson }}};
  var box = null;

  function container() {
    if (box) { return box; }
    box = document.createElement("div");
    box.className = "flashes notices";
    box.setAttribute("aria-live", "assertive");
    box.style.position = "fixed";
    box.style.right = "1rem";
    box.style.bottom = "1rem";
    box.style.maxWidth = "26rem";
    box.style.zIndex = "1000";
    document.body.appendChild(box);
    return box;
  }

  function inPage(notice) {
    var item = document.createElement("div");
    item.className = "flash " + (notice.severity === "critical" ? "flash-error" : "flash-ok");
    item.setAttribute("role", notice.severity === "critical" ? "alert" : "status");
    var title = document.createElement("strong");
    title.textContent = notice.title;
    var summary = document.createElement("p");
    summary.textContent = notice.summary || "";
    var link = document.createElement("a");
    link.href = notice.url;
    link.textContent = WORDS.open;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "link-button";
    close.textContent = WORDS.close;
    close.addEventListener("click", function () { item.remove(); });
    item.append(title, summary, link, " ", close);
    container().appendChild(item);
  }

  function onDesktop(notice) {
    if (!window.Notification || Notification.permission !== "granted") { return; }
    // One notice per message even with several pages open: the same tag replaces, never stacks.
    var shown = new Notification(notice.title, {body: notice.summary || "", tag: "truckguard-" + notice.id,
                                                requireInteraction: notice.severity === "critical"});
    shown.onclick = function () { window.focus(); window.location.href = notice.url; };
  }

  var source = new EventSource({{ events_url | tojson }});
  source.addEventListener("notice", function (event) {
    var notice = JSON.parse(event.data);
    inPage(notice);
    onDesktop(notice);
  });

  var ask = document.getElementById("enable-desktop-notices");
  if (ask && window.Notification && Notification.permission === "default") {
    ask.hidden = false;
    ask.addEventListener("click", function () {
      Notification.requestPermission().then(function () { ask.hidden = true; });
    });
  }
})();
