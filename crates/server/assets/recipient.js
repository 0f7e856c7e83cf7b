// Recipient page enhancements. The page works without this file: the zone
// picker has a submit button and the slots are a plain form.
(function () {
  "use strict";
  var KEY = "convene.tz";
  var form = document.getElementById("tzform");
  var sel = document.getElementById("tz");
  function remember(z) { try { localStorage.setItem(KEY, z); } catch (e) { /* private mode */ } }
  if (sel && form) {
    // Picking a zone re-renders the times at once; the button is for no-JS.
    var btn = document.getElementById("tz-apply");
    if (btn) btn.hidden = true;
    sel.addEventListener("change", function () { remember(sel.value); form.submit(); });
  }
  var params = new URLSearchParams(location.search);
  if (params.has("tz")) { remember(params.get("tz")); return; }
  if (!sel) return;
  // First visit: show times in the zone this browser remembers, else the
  // zone the browser itself reports.
  var want = null;
  try { want = localStorage.getItem(KEY); } catch (e) { /* ignore */ }
  if (!want) { try { want = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { /* ignore */ } }
  if (want && want !== sel.getAttribute("data-current")) {
    params.set("tz", want);
    location.replace(location.pathname + "?" + params.toString());
  }
})();
