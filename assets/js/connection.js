/*
 * Riding out a server outage: the page keeps its run and carries on when the server returns.
 *
 * Why this works: the run lives in the browser (the run Store) and every callback is a pure
 * function of its request, so a callback request that failed because no server answered can
 * simply be sent again, to any worker, later. This file wraps window.fetch for the app's own
 * callback URL (<prefix>_dash-update-component) only, and for those requests:
 *
 * - a network error (server, proxy or Wi-Fi gone) or a 502/503/504 (nginx with no gunicorn
 *   behind it) is retried with capped, jittered backoff (waits of half to all of 0.5 s, 1 s,
 *   2 s, 4 s, then 5 s each) while a banner says so; a 429 (rate limit) is retried after its
 *   Retry-After (at most 30 s) or the same backoff, whichever is longer;
 * - a 429 shows the banner at once ("Too many requests — retrying in N s"), not after the
 *   one-second grace period a network blip gets: the server asked the page to slow down, and
 *   the user should know why nothing moves;
 * - a 413 (the request carried more than the 1 MB nginx and the request guard accept) is not
 *   retried: it would fail again. It goes to Dash, and the page notice (assets/js/stores.js)
 *   says how large the request was, which part was the largest (named as the user knows it
 *   when it is a stored value) and what to do: a reload sets such a stored value aside;
 * - any other answer, 4xx and 500 included, goes to Dash unchanged: a bug or a bad input must
 *   show up, not loop;
 * - during an outage the requests wait in one queue, in the order Dash issued them, and only
 *   its head is retried; once it gets through, the rest are sent one at a time, in order. An
 *   older queued request that Dash has already superseded (same callback, same ids: Dash
 *   drops the result of the older one, see dash-renderer's requestedCallbacks observer) is
 *   answered "204 no update" instead of being sent.
 *
 * What Dash does meanwhile (dash-renderer 4.4, handleServerside): the fetch promise it waits on
 * stays pending (Dash sets no timeout), so the tick callback stays "running": its running=
 * outputs keep the Interval disabled, so no ticks pile up, and the Training controls busy, so
 * mouse clicks on them are ignored rather than queued. When the server returns, the same
 * request completes and the run continues from the same step. Without this file, a 502 is
 * shown nowhere (the renderer only logs a failed callback when dev tools are off) and the
 * Interval fires a new failing tick every interval; a network error is worse than
 * a 502: Dash rejects without applying running='s "off" values, so the Interval stays disabled
 * and the Training controls stay inert until the page is reloaded.
 *
 * Named functions in an asset file (no inline script): the page's Content-Security-Policy
 * forbids inline JavaScript. The banner is a static element of the index page (its id comes
 * from layouts/ids.py through <html data-connection-banner>), outside React's tree, so Dash
 * never re-renders over it.
 */
(function () {
  "use strict";

  var BASE_DELAY_MS = 500; // first retry
  var MAX_DELAY_MS = 5000; // backoff cap: the server's return is noticed within ~5 s
  var MAX_RETRY_AFTER_MS = 30000; // a Retry-After longer than this is not waited for in full
  var SHOW_AFTER_MS = 1000; // a blip shorter than this (one failed try) shows nothing
  var RECONNECTED_MS = 3000; // how long "Reconnected" stays up
  // Status codes that mean "no server answered this": the request never reached a worker, or
  // its worker died or timed out. A callback is a pure function of its request, so running it
  // again is safe even if it did run once.
  var RETRY_STATUS = { 502: "lost", 503: "lost", 504: "lost", 429: "busy" };
  var TEXT = {
    lost: "Connection to the server lost — retrying…",
    busy: "Too many requests — the server asked this page to slow down.",
    kept: "Your run is kept in this tab.",
    back: "Reconnected — the run carries on.",
    backBusy: "Requests go through again.",
  };

  var root = document.documentElement;
  var originalFetch = window.fetch;
  var callbackUrl = null; // resolved lazily: Dash's config script is read on first use
  var sequence = 0;
  var queue = []; // waiting entries, oldest first: {seq, input, init, key, resolve, reject}
  var inFlight = null; // the entry being re-sent right now
  var outage = null; // {since, attempt, kind, retryAt, timer, shown, dismissed}
  var ticker = null;
  var hideTimer = null;

  // ------------------------------------------------------------------ which requests

  function dashPrefix() {
    try {
      var config = JSON.parse(document.getElementById("_dash-config").textContent);
      return config.requests_pathname_prefix || config.url_base_pathname || "/";
    } catch (err) {
      return "/";
    }
  }

  function isCallbackRequest(input, init) {
    var raw = typeof input === "string" || input instanceof URL ? String(input) : null;
    var method = ((init && init.method) || "GET").toUpperCase();
    if (raw === null || method !== "POST") {
      return false; // Dash passes a string URL and POST; anything else is not ours
    }
    if (callbackUrl === null) {
      callbackUrl = new URL(dashPrefix() + "_dash-update-component", window.location.href);
    }
    var url = new URL(raw, window.location.href);
    return url.origin === callbackUrl.origin && url.pathname === callbackUrl.pathname;
  }

  function propIds(list) {
    return (Array.isArray(list) ? list : [list]).map(function (item) {
      return item ? JSON.stringify(item.id) + "." + item.property : "";
    });
  }

  // Which callback instance a request is for: the callback's outputs and the concrete ids of
  // its outputs, inputs and state (pattern-matching callbacks differ only by those).
  function callbackKey(init) {
    try {
      var body = JSON.parse(init.body);
      return JSON.stringify([
        body.output,
        propIds(body.outputs),
        propIds(body.inputs),
        propIds(body.state || []),
      ]);
    } catch (err) {
      return null;
    }
  }

  // ------------------------------------------------------------------ sending

  // One try; resolves with the Response or the Error, never rejects.
  function attempt(entry) {
    return originalFetch.call(window, entry.input, entry.init).then(
      function (res) {
        return res;
      },
      function (err) {
        return err instanceof Error ? err : new Error(String(err));
      }
    );
  }

  // "lost" / "busy" when the result means no server answered, else null.
  function failureKind(result, entry) {
    if (result instanceof Error) {
      var aborted = entry.init && entry.init.signal && entry.init.signal.aborted;
      return aborted ? null : "lost";
    }
    return RETRY_STATUS[result.status] || null;
  }

  function discard(result) {
    if (result && result.body && typeof result.body.cancel === "function") {
      result.body.cancel().catch(function () {});
    }
  }

  function settle(entry, result) {
    if (result instanceof Error) {
      entry.reject(result);
    } else {
      entry.resolve(result);
    }
  }

  function noUpdate() {
    return new Response(null, { status: 204 }); // Dash: PreventUpdate, nothing changes
  }

  // Put a request that found no server in the queue, in issue order. Of two requests for the
  // same callback instance only the newer is kept; the older gets "no update", which is what
  // Dash does with its answer anyway.
  function enqueue(entry) {
    if (entry.key !== null) {
      var newer = queue.some(function (other) {
        return other.key === entry.key && other.seq > entry.seq;
      });
      if (newer) {
        entry.resolve(noUpdate());
        return;
      }
      queue = queue.filter(function (old) {
        if (old.key === entry.key && old.seq < entry.seq) {
          old.resolve(noUpdate());
          return false;
        }
        return true;
      });
    }
    queue.push(entry);
    queue.sort(function (a, b) {
      return a.seq - b.seq;
    });
  }

  /**
   * window.fetch for the page: the callback URL gets retries, everything else passes through.
   */
  function connectionFetch(input, init) {
    if (!isCallbackRequest(input, init)) {
      return originalFetch.apply(window, arguments);
    }
    var entry = { seq: ++sequence, input: input, init: init, key: callbackKey(init) };
    return new Promise(function (resolve, reject) {
      entry.resolve = resolve;
      entry.reject = reject;
      if (outage !== null) {
        enqueue(entry); // keep the order: nothing overtakes the requests already waiting
        return;
      }
      attempt(entry).then(function (result) {
        var kind = failureKind(result, entry);
        if (kind === null) {
          explainRefusal(entry, result);
          settle(entry, result);
          return;
        }
        discard(result);
        enqueue(entry);
        startOutage(kind, result);
      });
    });
  }

  // ------------------------------------------------------------------ the retry loop

  function backoff(attemptNo) {
    var cap = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * Math.pow(2, attemptNo));
    return cap / 2 + Math.random() * (cap / 2); // "equal jitter": spread, never zero
  }

  function retryAfterMs(result) {
    var header = result && result.headers ? result.headers.get("Retry-After") : null;
    if (!header) {
      return 0;
    }
    var seconds = Number(header);
    var ms = isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
    return isFinite(ms) ? Math.max(0, Math.min(ms, MAX_RETRY_AFTER_MS)) : 0;
  }

  function startOutage(kind, result) {
    if (outage === null) {
      outage = {
        since: Date.now(),
        attempt: 0,
        kind: kind,
        retryAt: 0,
        timer: null,
        shown: false,
        dismissed: false,
        everBusy: false,
      };
      window.clearTimeout(hideTimer);
      ticker = window.setInterval(renderBanner, 1000);
      scheduleRetry(retryAfterMs(result));
    }
    renderBanner();
  }

  function scheduleRetry(atLeastMs) {
    var delay = Math.max(backoff(outage.attempt), atLeastMs || 0);
    outage.retryAt = Date.now() + delay;
    window.clearTimeout(outage.timer);
    outage.timer = window.setTimeout(retryHead, delay);
  }

  function retryHead() {
    if (outage === null || inFlight !== null) {
      return;
    }
    window.clearTimeout(outage.timer);
    outage.timer = null;
    var entry = queue.shift();
    if (entry === undefined) {
      endOutage();
      return;
    }
    inFlight = entry;
    attempt(entry).then(function (result) {
      inFlight = null;
      var kind = failureKind(result, entry);
      if (kind !== null) {
        discard(result);
        enqueue(entry); // back at the head, unless superseded while it was on the wire
        outage.attempt += 1;
        outage.kind = kind;
        scheduleRetry(retryAfterMs(result));
        renderBanner();
        return;
      }
      explainRefusal(entry, result);
      settle(entry, result);
      // The server answers again: send the rest one at a time, oldest first.
      outage.attempt = 0;
      if (queue.length > 0) {
        retryHead();
      } else {
        endOutage();
      }
    });
  }

  function retryNow() {
    if (outage !== null && inFlight === null) {
      retryHead();
    }
  }

  function endOutage() {
    var shown = outage !== null && outage.shown && !outage.dismissed;
    var busy = outage !== null && outage.everBusy;
    if (outage !== null) {
      window.clearTimeout(outage.timer);
    }
    window.clearInterval(ticker);
    outage = null;
    ticker = null;
    if (shown) {
      showReconnected(busy);
    }
  }

  // ------------------------------------------------------------------ the banner

  function bannerElement() {
    var id = root.getAttribute("data-connection-banner");
    return id ? document.getElementById(id) : null;
  }

  function seconds(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    return s < 60 ? s + " s" : Math.floor(s / 60) + " min " + (s % 60) + " s";
  }

  function element(tag, className, text) {
    var el = document.createElement(tag);
    el.className = className;
    if (text) {
      el.textContent = text;
    }
    return el;
  }

  // Builds the banner's parts once; later renders only change texts, so a screen reader
  // hears the message once (the ticking times are aria-hidden).
  function bannerParts(banner) {
    if (!banner.firstChild) {
      var message = element("span", "conn-banner-message");
      var title = element("strong", "conn-banner-title");
      var kept = element("span", "conn-banner-kept");
      message.appendChild(title);
      message.appendChild(document.createTextNode(" "));
      message.appendChild(kept);
      var timing = element("span", "conn-banner-timing");
      timing.setAttribute("aria-hidden", "true");
      var button = element("button", "conn-banner-retry btn btn-sm", "Retry now");
      button.type = "button";
      button.addEventListener("click", retryNow);
      var close = element("button", "btn-close conn-banner-close");
      close.type = "button";
      close.setAttribute("aria-label", "Dismiss (retries go on)");
      close.addEventListener("click", dismissBanner);
      banner.appendChild(element("span", "conn-banner-dot"));
      banner.appendChild(message);
      banner.appendChild(timing);
      banner.appendChild(button);
      banner.appendChild(close);
    }
    return {
      title: banner.querySelector(".conn-banner-title"),
      kept: banner.querySelector(".conn-banner-kept"),
      timing: banner.querySelector(".conn-banner-timing"),
      button: banner.querySelector(".conn-banner-retry"),
      close: banner.querySelector(".conn-banner-close"),
    };
  }

  function setText(el, text) {
    if (el.textContent !== text) {
      el.textContent = text; // unchanged text is not rewritten, so not re-announced
    }
  }

  function renderBanner() {
    var banner = bannerElement();
    if (outage === null || banner === null) {
      return;
    }
    var now = Date.now();
    var busy = outage.kind === "busy";
    outage.everBusy = outage.everBusy || busy;
    if (!busy && !outage.shown && now - outage.since < SHOW_AFTER_MS) {
      return;
    }
    if (outage.dismissed) {
      return;
    }
    outage.shown = true;
    var parts = bannerParts(banner);
    setText(parts.title, TEXT[outage.kind]);
    setText(parts.kept, TEXT.kept);
    var wait = seconds(outage.retryAt - now);
    var next = inFlight !== null ? "trying now" : (busy ? "retrying in " : "next try in ") + wait;
    setText(parts.timing, busy ? next : "for " + seconds(now - outage.since) + " · " + next);
    parts.timing.hidden = false;
    parts.button.hidden = false;
    parts.close.hidden = false;
    banner.setAttribute("data-state", outage.kind);
    banner.hidden = false;
  }

  // The close button: the banner goes until this outage ends; the retries go on.
  function dismissBanner() {
    if (outage !== null) {
      outage.dismissed = true;
    }
    hideBanner();
  }

  function showReconnected(busy) {
    var banner = bannerElement();
    if (banner === null) {
      return;
    }
    var parts = bannerParts(banner);
    setText(parts.title, busy ? TEXT.backBusy : TEXT.back);
    setText(parts.kept, "");
    parts.timing.hidden = true;
    parts.button.hidden = true;
    parts.close.hidden = true;
    banner.setAttribute("data-state", "reconnected");
    banner.hidden = false;
    hideTimer = window.setTimeout(hideBanner, RECONNECTED_MS);
  }

  function hideBanner() {
    var banner = bannerElement();
    if (banner !== null && (outage === null || outage.dismissed)) {
      banner.hidden = true;
      banner.setAttribute("data-state", "");
    }
  }

  // ------------------------------------------------------------------ a refused request

  // The largest input or state value of a callback request: {name, bytes}.
  function largestPart(body, stores) {
    var parts = [];
    try {
      var parsed = JSON.parse(body);
      var flat = [].concat(parsed.inputs || [], parsed.state || []);
      flat.forEach(function (item) {
        (Array.isArray(item) ? item : [item]).forEach(function (p) {
          if (p && typeof p === "object" && "value" in p) {
            parts.push(p);
          }
        });
      });
    } catch (err) {
      return null;
    }
    var best = null;
    parts.forEach(function (p) {
      var bytes = new Blob([JSON.stringify(p.value) || ""]).size;
      if (best === null || bytes > best.bytes) {
        var known = typeof p.id === "string" ? stores.label(p.id) : null;
        best = { name: known || JSON.stringify(p.id) + "." + p.property, known: !!known, bytes: bytes };
      }
    });
    return best;
  }

  // A 413: the page notice says what was too large and what to do (nothing is retried).
  function explainRefusal(entry, result) {
    var stores = window.dashStores;
    if (!(result instanceof Response) || result.status !== 413 || !stores) {
      return;
    }
    var body = entry.init && typeof entry.init.body === "string" ? entry.init.body : "";
    var part = largestPart(body, stores);
    var text =
      "The server refused a request of " + stores.sizeText(new Blob([body]).size) +
      ": a request may carry at most 1 MB, so that action did nothing.";
    var actions = [];
    if (part !== null) {
      text += " Its largest part is " + part.name + " (" + stores.sizeText(part.bytes) + ").";
    }
    if (part !== null && part.known) {
      text +=
        " Reload the page: stored data too large to send is then set aside (saved runs, " +
        "with an offer to download them) or cleared.";
      actions.push({
        label: "Reload the page",
        run: function () {
          window.location.reload();
        },
      });
    }
    stores.notice("refused", { title: "Request too large.", text: text, actions: actions });
  }

  // ------------------------------------------------------------------ wiring

  if (typeof originalFetch === "function") {
    window.fetch = connectionFetch;
    // The browser says the network is back: no need to wait out the backoff.
    window.addEventListener("online", retryNow);
  }
})();
