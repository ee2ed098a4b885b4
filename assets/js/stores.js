/*
 * What the page keeps in the browser's storage, checked before Dash reads it.
 *
 * Why: a dcc.Store in session or local storage survives reloads, and every callback that
 * reads a Store sends it to the server. A stored value larger than a request may carry (1 MB:
 * the request guard and nginx answer 413) makes every such callback fail, so the tab would be
 * stuck for good; a value that is not JSON is read by dcc.Store as "nothing" and stays there.
 * Such values come from another version, another tool or a hand edit. This file runs before
 * Dash renders (assets load before the renderer starts) and, for every Store listed in
 * <html data-stores> (layouts/shell.py PERSISTED_STORES):
 *
 * - a value over the limit (STORE_LIMIT_BYTES) or not valid JSON is taken out of the Store's
 *   key. Saved runs are moved, byte for byte, to a key of their own (ids.SAVED_RUNS_ASIDE), so
 *   nothing is lost: the page offers to download them and then to discard the copy. Any other
 *   such value is cleared (none of them can hold anything a person made that is not rebuilt in
 *   a click);
 * - the page notice (a static element outside React, like the connection banner) says what
 *   was wrong and what was done.
 *
 * A value of the right size that is JSON of the wrong shape is left to the server, which
 * validates every Store it reads (views/stores.py) and resets it with a message.
 *
 * window.dashStores is used by connection.js (a 413 reply names the Store that was too large)
 * and by the clientside callback below (the saved-runs "Download them" button).
 */
(function () {
  "use strict";

  var root = document.documentElement;
  var config = readConfig();

  function readConfig() {
    try {
      var c = JSON.parse(root.getAttribute("data-stores"));
      return c && Array.isArray(c.stores) && typeof c.limit === "number" ? c : null;
    } catch (err) {
      return null;
    }
  }

  // ------------------------------------------------------------------ sizes and storage

  function byteSize(text) {
    return new Blob([text]).size; // UTF-8, as it is sent
  }

  function sizeText(bytes) {
    if (bytes >= 1024 * 1024) {
      return (bytes / (1024 * 1024)).toFixed(1) + " MB";
    }
    return Math.max(1, Math.round(bytes / 1024)) + " KB";
  }

  function storageOf(kind) {
    try {
      return kind === "session" ? window.sessionStorage : window.localStorage;
    } catch (err) {
      return null; // storage disabled: dcc.Store cannot read it either
    }
  }

  function label(id) {
    var found = (config ? config.stores : []).filter(function (s) {
      return s[0] === id;
    });
    return found.length ? found[0][2] : null;
  }

  // Why a stored value cannot be loaded, or null when it can.
  function problemOf(raw) {
    var bytes = byteSize(raw);
    if (bytes > config.limit) {
      return (
        "it is " + sizeText(bytes) + ", over the " + sizeText(config.limit) +
        " a stored value may hold here: every request that needs it carries it, and a " +
        "request may carry at most 1 MB"
      );
    }
    try {
      JSON.parse(raw);
      return null;
    } catch (err) {
      return "it is not valid JSON";
    }
  }

  function asideKeys() {
    var keys = [];
    try {
      for (var i = 0; i < window.localStorage.length; i++) {
        var key = window.localStorage.key(i);
        if (key === config.aside || key.indexOf(config.aside + ":") === 0) {
          keys.push(key);
        }
      }
    } catch (err) {
      return [];
    }
    return keys.sort();
  }

  // Move the saved runs out of the Store's key. Removing first frees the quota the copy needs;
  // if the copy still cannot be written, the value is put back where it was.
  function setAside(store, id, raw) {
    var key = asideKeys().length ? config.aside + ":" + Date.now() : config.aside;
    store.removeItem(id);
    store.removeItem(id + "-timestamp");
    try {
      store.setItem(key, raw);
      return true;
    } catch (err) {
      store.setItem(id, raw);
      return false;
    }
  }

  function checkStores() {
    var cleared = [];
    var savedProblem = null;
    config.stores.forEach(function (s) {
      var store = storageOf(s[1]);
      var raw = null;
      try {
        raw = store ? store.getItem(s[0]) : null;
      } catch (err) {
        raw = null;
      }
      if (raw === null) {
        return;
      }
      var problem = problemOf(raw);
      if (problem === null) {
        return;
      }
      if (s[0] === config.saved) {
        savedProblem = setAside(store, s[0], raw) ? problem : problem + "; and they could not be set aside";
        return;
      }
      store.removeItem(s[0]);
      store.removeItem(s[0] + "-timestamp");
      cleared.push(s[2] + " (" + problem + ")");
    });
    return { cleared: cleared, savedProblem: savedProblem };
  }

  // ------------------------------------------------------------------ downloads

  function download(text, filename) {
    var url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    var link = document.createElement("a");
    link.href = url;
    link.download = filename;
    link.hidden = true;
    document.body.appendChild(link);
    link.click();
    link.remove();
    window.setTimeout(function () {
      URL.revokeObjectURL(url);
    }, 60000);
  }

  function stamp() {
    return new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
  }

  // The saved runs as they are stored (every set-aside copy, else the Store's own value),
  // straight from local storage: this works whatever their size or content.
  function downloadSaved() {
    var keys = asideKeys();
    if (keys.length === 0) {
      keys = [config.saved];
    }
    keys.forEach(function (key, i) {
      var raw = window.localStorage.getItem(key);
      if (raw !== null) {
        var suffix = keys.length > 1 ? "-" + (i + 1) : "";
        download(raw, "saved-runs-backup-" + stamp() + suffix + ".json");
      }
    });
  }

  function discardAside() {
    asideKeys().forEach(function (key) {
      window.localStorage.removeItem(key);
    });
    dismiss("saved-aside");
  }

  // ------------------------------------------------------------------ the page notice

  function noticeElement() {
    return config ? document.getElementById(config.notice) : null;
  }

  function element(tag, className, text) {
    var el = document.createElement(tag);
    el.className = className;
    if (text) {
      el.textContent = text;
    }
    return el;
  }

  /**
   * Show (or replace) the message `key`: {title, text, actions: [{label, run}]}, with a
   * close button. Messages with other keys stay.
   */
  function notice(key, message) {
    var box = noticeElement();
    if (box === null) {
      return;
    }
    dismiss(key);
    var item = element("div", "page-notice-item");
    item.setAttribute("data-key", key);
    var body = element("div", "page-notice-body");
    body.appendChild(element("strong", "page-notice-title", message.title));
    body.appendChild(document.createTextNode(" "));
    body.appendChild(element("span", "page-notice-text", message.text));
    item.appendChild(body);
    var actions = element("div", "page-notice-actions");
    (message.actions || []).forEach(function (action) {
      var button = element("button", "btn btn-sm page-notice-action", action.label);
      button.type = "button";
      button.addEventListener("click", action.run);
      actions.appendChild(button);
    });
    var close = element("button", "btn-close page-notice-close");
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss this message");
    close.addEventListener("click", function () {
      dismiss(key);
    });
    actions.appendChild(close);
    item.appendChild(actions);
    box.appendChild(item);
    box.hidden = false;
  }

  function dismiss(key) {
    var box = noticeElement();
    if (box === null) {
      return;
    }
    Array.prototype.slice.call(box.children).forEach(function (child) {
      if (child.getAttribute("data-key") === key) {
        child.remove();
      }
    });
    box.hidden = box.children.length === 0;
  }

  function showAsideNotice(problem) {
    notice("saved-aside", {
      title: problem ? "Your saved runs could not be read" : "Saved runs set aside earlier",
      text:
        (problem ? "(" + problem + "). They were set aside, not deleted, " : "are still kept ") +
        "so the page works without them. Download them to keep them (the file can be " +
        "edited and imported again), then clear them here.",
      actions: [
        { label: "Download them (JSON)", run: downloadSaved },
        { label: "Clear saved runs", run: discardAside },
      ],
    });
  }

  // ------------------------------------------------------------------ on load

  if (config !== null) {
    var found = checkStores();
    if (found.cleared.length) {
      notice("stores-cleared", {
        title: "Stored data could not be used and was cleared:",
        text: found.cleared.join("; ") + ".",
      });
    }
    if (found.savedProblem !== null || asideKeys().length) {
      showAsideNotice(found.savedProblem); // on every load until the copy is cleared
    }
  }

  window.dashStores = {
    label: label,
    sizeText: sizeText,
    notice: notice,
    dismiss: dismiss,
  };

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    stores: {
      /**
       * "Download them (JSON)" under the saved-runs table: the stored list as it is, read
       * from local storage here, so it works even when it cannot be sent to the server.
       * @returns {*} no_update (the output is a placeholder Dash requires)
       */
      downloadSaved: function (clicks) {
        if (clicks && config !== null) {
          downloadSaved();
        }
        return window.dash_clientside.no_update;
      },
    },
  });
})();
