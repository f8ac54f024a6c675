/* Six Circles officer console: the little the pages need besides htmx.
   Loaded from the console itself; no inline scripts (Content-Security-Policy). */
(function () {
  "use strict";

  var sixCircles = (window.sixCircles = window.sixCircles || { maps: {} });

  // ---- live updates (htmx SSE extension) ----------------------------------------------
  // The server sends "reload" when this page missed events it cannot replay, and
  // "signed_out" when the session ended or the officer lost console access.
  document.addEventListener("htmx:sseOpen", function (e) {
    var source = e.detail.source;
    document.body.setAttribute("data-live", "open");
    if (source.sixCirclesHooked) {
      return;
    }
    source.sixCirclesHooked = true;
    source.addEventListener("reload", function () {
      window.location.reload();
    });
    source.addEventListener("signed_out", function (m) {
      var url = null;
      try {
        url = JSON.parse(m.data).url;
      } catch (err) {
        url = null;
      }
      window.location.assign(url || window.location.href);
    });
  });
  document.addEventListener("htmx:sseError", function () {
    document.body.setAttribute("data-live", "error");
  });

  // ---- errors of htmx requests: show the server's message ---------------------------
  document.addEventListener("htmx:responseError", function (e) {
    var flash = document.getElementById("flash");
    if (!flash) {
      return;
    }
    var doc = new DOMParser().parseFromString(e.detail.xhr.responseText || "", "text/html");
    var found = doc.querySelector("[data-testid=error]");
    flash.textContent = found ? found.textContent : String(e.detail.xhr.status);
    flash.hidden = false;
  });
  document.addEventListener("htmx:beforeRequest", function () {
    var flash = document.getElementById("flash");
    if (flash) {
      flash.hidden = true;
    }
  });

  // ---- maps (Leaflet, marker clustering) --------------------------------------------
  function escapeText(text) {
    var span = document.createElement("span");
    span.textContent = text;
    return span.innerHTML;
  }

  function initMap(el) {
    if (!window.L || el.sixCirclesMap) {
      return;
    }
    var center = JSON.parse(el.getAttribute("data-center") || "[0, 0]");
    var zoom = parseInt(el.getAttribute("data-zoom") || "4", 10);
    var map = window.L.map(el, { attributionControl: true }).setView(center, zoom);
    var tiles = el.getAttribute("data-tile-url");
    if (tiles) {
      window.L.tileLayer(tiles, {
        maxZoom: 19,
        attribution: escapeText(el.getAttribute("data-attribution") || ""),
      }).addTo(map);
    }
    var cluster = window.L.markerClusterGroup ? window.L.markerClusterGroup() : window.L.layerGroup();
    cluster.addTo(map);
    el.sixCirclesMap = map;
    sixCircles.maps[el.id] = { map: map, cluster: cluster };
    el.dispatchEvent(new CustomEvent("sixcircles:map", { bubbles: true, detail: sixCircles.maps[el.id] }));
  }

  function initMaps(root) {
    var els = (root || document).querySelectorAll("[data-map]");
    for (var i = 0; i < els.length; i++) {
      initMap(els[i]);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    initMaps(document);
    if (window.htmx) {
      window.htmx.onLoad(function (el) {
        initMaps(el);
      });
    }
  });
})();

/* Parts of a page that refresh themselves on live events (notices pages, start page).
   An element with data-live-watch="<topic> ..." gets the event "live-change" (use it in
   hx-trigger) when one of those topics says something changed; with data-live-id, only
   when the event's "key" is that id (e.g. the notice the element shows). */
(function () {
  "use strict";

  function topicsOf(source) {
    try {
      var found = new URL(source.url, window.location.href).searchParams.get("topic");
      return found ? found.split(",") : [];
    } catch (err) {
      return [];
    }
  }

  function notify(topic, data) {
    var els = document.querySelectorAll("[data-live-watch]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      if ((el.getAttribute("data-live-watch") || "").split(" ").indexOf(topic) < 0) {
        continue;
      }
      var id = el.getAttribute("data-live-id");
      if (id && id !== data.key) {
        continue;
      }
      if (window.htmx) {
        window.htmx.trigger(el, "live-change", data);
      }
    }
  }

  document.addEventListener("htmx:sseOpen", function (e) {
    var source = e.detail.source;
    if (!source || source.sixCirclesWatch) {
      return;
    }
    source.sixCirclesWatch = true;
    topicsOf(source).forEach(function (topic) {
      source.addEventListener(topic, function (m) {
        var data = {};
        try {
          data = JSON.parse(m.data) || {};
        } catch (err) {
          data = {};
        }
        notify(topic, data);
      });
    });
  });
})();
