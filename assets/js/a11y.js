/*
 * Accessible names for controls that Dash's components render without one (issue 17, item 2).
 *
 * Why here: dcc.Slider's thumb (role="slider"), dbc.Progress's bar (role="progressbar"),
 * dcc.Upload's hidden file <input> and DataTable's page buttons (icons only) take no
 * aria-label from Python, so a screen reader announces them as "slider", "progress bar",
 * "file" or "button" with no word of what they are. The names are written in the layouts,
 * beside the components, as data-a11y-name on a wrapper; this script copies each onto the
 * unnamed control inside it. React leaves attributes it does not manage alone, and a control
 * that is mounted again (a tab opened again) is named again on the next change to the page.
 */
(function () {
  "use strict";

  // The controls inside a [data-a11y-name] wrapper that take its name (a slider's value box
  // too: app.css keeps it shown on the smoothing sliders, issue 17 item 16).
  var NAMED =
    "[role='slider'], [role='progressbar'], input[type='file'], input.dash-range-slider-input";
  // DataTable's pager: <button class="first-page"> etc., drawn as icons.
  var PAGER = {
    "first-page": "First page",
    "previous-page": "Previous page",
    "next-page": "Next page",
    "last-page": "Last page",
  };

  function setName(el, name) {
    if (name && el.getAttribute("aria-label") !== name) el.setAttribute("aria-label", name);
  }

  function nameAll() {
    var wrappers = document.querySelectorAll("[data-a11y-name]");
    for (var i = 0; i < wrappers.length; i++) {
      var name = wrappers[i].getAttribute("data-a11y-name");
      var controls = wrappers[i].querySelectorAll(NAMED);
      for (var j = 0; j < controls.length; j++) setName(controls[j], name);
    }
    var pager = document.querySelectorAll(".dash-table-container .previous-next-container button");
    for (var k = 0; k < pager.length; k++) {
      for (var cls in PAGER) {
        if (pager[k].classList.contains(cls)) setName(pager[k], PAGER[cls]);
      }
    }
  }

  // Batched per frame: Plotly redraws charts on every tick, and this needs to run only once
  // after each burst of changes.
  var pending = false;
  new MutationObserver(function () {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      nameAll();
    });
  }).observe(document.documentElement, { childList: true, subtree: true });
})();
