/*
 * Clientside half of the Configuration tab (callbacks declared in callbacks/configuration.py).
 *
 * "Apply now" is enabled only for a running or paused run and a valid form. The run store
 * changes on every tick, so deciding this in the browser saves a server request per tick.
 * The server checks both again when the button is pressed.
 */
(function () {
  "use strict";
  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.configuration = {
    applyNowDisabled: function (run, formInvalid) {
      var status = run && typeof run === "object" ? run.status : null;
      return Boolean(formInvalid) || !(status === "running" || status === "paused");
    },
  };
})();
