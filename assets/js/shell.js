/*
 * Clientside half of the shell (the callbacks are declared in callbacks/shell.py).
 *
 * Why clientside: the colour mode and the run-status badge need nothing from the server, and
 * the badge changes on every tick, so doing them here costs no request at all. They are named
 * functions in an asset file, not JavaScript strings in Python, because Dash inlines string
 * callbacks into the page as <script> blocks, which a strict Content-Security-Policy forbids.
 *
 * This file runs before Dash renders anything, so it also sets the colour mode right away:
 * no flash of light mode for someone who chose dark.
 */
(function () {
  "use strict";

  var root = document.documentElement;
  // The localStorage key of the theme dcc.Store: layouts.ids.THEME_STORE, which the index page
  // (layouts/shell.py) writes on <html> so the id is defined in one place only.
  var storeKey = root.getAttribute("data-theme-store");
  var MODES = { light: true, dark: true };

  function preferredMode() {
    var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
    return dark ? "dark" : "light";
  }

  function storedMode() {
    // dcc.Store(storage_type="local") keeps JSON under its id. Anything else is ignored.
    try {
      var value = storeKey && JSON.parse(window.localStorage.getItem(storeKey));
      return MODES[value] === true ? value : null;
    } catch (err) {
      return null;
    }
  }

  function applyMode(mode) {
    root.setAttribute("data-bs-theme", mode);
  }

  applyMode(storedMode() || preferredMode());

  // Run status (simulator.STATUSES) -> label and class. The Store's content comes from the
  // browser and may be stale or edited, so only these known values ever reach the page.
  var STATUS = {
    idle: "Idle",
    running: "Running",
    paused: "Paused",
    stopped: "Stopped",
    finished: "Finished",
    diverged: "Diverged",
  };

  // A real run's status (tracking.status.STATUSES) -> label and the badge class it borrows.
  var REAL = {
    live: ["Live", "running"],
    paused: ["Paused", "paused"],
    finished: ["Finished", "finished"],
    stalled: ["Stalled", "paused"],
    failed: ["Failed", "diverged"],
  };

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    shell: {
      /**
       * Keep the switch, the stored choice and <html data-bs-theme> in step.
       * A click on the switch is a choice and is stored; on page load, with nothing stored,
       * the mode follows prefers-color-scheme and nothing is stored, so it keeps following it.
       * @returns {Array} [THEME_STORE.data, THEME_SWITCH.value]
       */
      syncTheme: function (switchOn, stored) {
        var noUpdate = window.dash_clientside.no_update;
        var triggered = window.dash_clientside.callback_context.triggered || [];
        var clicked = triggered.some(function (t) {
          return /\.value$/.test(t.prop_id);
        });
        if (clicked) {
          var chosen = switchOn ? "dark" : "light";
          applyMode(chosen);
          return [chosen, noUpdate];
        }
        var mode = MODES[stored] === true ? stored : preferredMode();
        applyMode(mode);
        return [noUpdate, mode === "dark"];
      },

      /**
       * The opened Stores (layouts/shell.py _opened_stores): each is set once, to
       * {tab, opened: true}, when its tab is shown, or else just after the Training charts
       * are first drawn (their meta Store, simulated or real, is written with them): after
       * the frame that shows them, so the other tabs' requests never delay it.
       * @returns {Array|Promise} one Store value (or no_update) per opened Store, in order
       */
      openTabs: function (tab, meta, realMeta) {
        var noUpdate = window.dash_clientside.no_update;
        var drawn = !!meta || !!realMeta;
        var now = false;
        var out = Array.prototype.slice.call(arguments, 3).map(function (s) {
          if (!s || typeof s !== "object" || s.opened) {
            return noUpdate;
          }
          now = now || tab === s.tab;
          return tab === s.tab || drawn ? Object.assign({}, s, { opened: true }) : noUpdate;
        });
        if (now || !out.some(function (v) { return v !== noUpdate; })) {
          return out;
        }
        // Opened because the Training charts were drawn: after the frame that shows them.
        return new Promise(function (resolve) {
          window.requestAnimationFrame(function () {
            window.setTimeout(function () {
              resolve(out);
            }, 0);
          });
        });
      },

      /**
       * A shared Store changed after a tab was opened: the time, which that tab's callbacks
       * listen to instead of the Store itself. A shared local Store is set as the page loads
       * (dcc.Store reads local storage when it mounts), which would run them for a tab no one
       * opened; opening the tab runs them through its opened Store instead.
       * @returns {number} a *_CHANGED Store's data (Date.now()), or no_update
       */
      sinceOpened: function (_value, opened) {
        var ctx = window.dash_clientside.callback_context;
        var input = ctx.inputs_list[0];
        var changed = (ctx.triggered || []).some(function (t) {
          return t.prop_id === input.id + "." + input.property;
        });
        var isOpen = !!opened && typeof opened === "object" && opened.opened === true;
        return changed && isOpen ? Date.now() : window.dash_clientside.no_update;
      },

      /**
       * The top bar's run-status badge and tag: the simulated run's (run Store), or, while
       * the Training tab shows a stored run, that run's name and status (TR_REAL_BADGE).
       * @returns {Array} [STATUS_BADGE.children, STATUS_BADGE.className, APP_TAG.children]
       */
      statusBadge: function (run, real) {
        if (real && typeof real.name === "string" &&
            Object.prototype.hasOwnProperty.call(REAL, real.status)) {
          var name = real.name.length > 28 ? real.name.slice(0, 27) + "\u2026" : real.name;
          var r = REAL[real.status];
          return [name + " \u00b7 " + r[0], "status-badge status-" + r[1], "Real run"];
        }
        var status = run && Object.prototype.hasOwnProperty.call(STATUS, run.status)
          ? run.status
          : "idle";
        return [STATUS[status], "status-badge status-" + status, "Simulated"];
      },
    },
  });
})();
