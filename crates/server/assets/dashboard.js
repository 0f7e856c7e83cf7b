// Dashboard enhancements; every page also works without JavaScript.
(function () {
  "use strict";
  // Destructive forms ask first (the server acts on the POST alone).
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (ev) {
      if (!window.confirm(f.getAttribute("data-confirm"))) ev.preventDefault();
    });
  });
  // Show only the settings of the chosen option (host or host group, a
  // rolling window or fixed periods). Hidden inputs still submit, and the
  // server ignores the unchosen side.
  function toggle(name, attr) {
    var radios = document.querySelectorAll("input[type=radio][name='" + name + "']");
    if (!radios.length) return;
    function apply() {
      var v = null;
      radios.forEach(function (r) { if (r.checked) v = r.value; });
      document.querySelectorAll("[" + attr + "]").forEach(function (el) {
        el.hidden = el.getAttribute(attr) !== v;
      });
    }
    radios.forEach(function (r) { r.addEventListener("change", apply); });
    apply();
  }
  toggle("host_kind", "data-host-kind");
  toggle("window_kind", "data-window-kind");
})();
