/*
 * Clientside half of the Training tab (the callbacks are declared in callbacks/training.py).
 *
 * Why clientside (docs/architecture.md, "The tick"): the run Store changes on every tick, and
 * deciding here whether the charts need a full redraw, and spreading the server's one compact
 * status Store over ~45 props, costs no request at all. Named functions in an asset file, not
 * JavaScript strings in Python, because Dash inlines string callbacks into the page as
 * <script> blocks, which the Content-Security-Policy forbids.
 */
(function () {
  "use strict";

  var H = "dash_html_components";

  function eventItem(e) {
    return {
      type: "Li",
      namespace: H,
      props: {
        "data-kind": e[1],
        className: "tr-event tr-ev-" + e[1],
        children: [
          {
            type: "Span",
            namespace: H,
            props: { className: "tr-ev-step num", children: Number(e[0]).toLocaleString("en-US") },
          },
          { type: "Span", namespace: H, props: { className: "tr-ev-text", children: e[2] } },
        ],
      },
    };
  }

  var NO_EVENTS = { type: "Li", namespace: H, props: { className: "tr-event-empty", children: "No events yet." } };

  /** The last line: how many evaluations the log does not list (null: none to mention). */
  function moreItem(text) {
    return { type: "Li", namespace: H, props: { className: "tr-event tr-ev-more", children: text } };
  }

  function kindOf(c) {
    return c && c.props ? c.props["data-kind"] : undefined;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    training: {
      /**
       * The gate: runs whenever the run Store changes and asks the server for a full redraw
       * only when the charts were drawn for another run, step or set of changes. A tick's own
       * answer updates the chart meta with the state, so the gate stays silent during playback.
       * A Store of the wrong shape (edited in session storage) also asks: the server reads it,
       * resets it and says why.
       * @returns {Array} [TR_RENDER_REQ.data, TR_RENDERED.data]
       */
      renderGate: function (state, meta, rendered) {
        var noUpdate = window.dash_clientside.no_update;
        var valid = state && typeof state === "object" && Array.isArray(state.changes);
        var key = !state
          ? "none"
          : valid
            ? JSON.stringify([state.seed, state.config, state.changes.length, state.step === 0])
            : "invalid:" + Date.now();
        var step = valid ? state.step : 0;
        if (meta && rendered === key && meta.step === step) {
          return [noUpdate, noUpdate];
        }
        return [Date.now(), key];
      },

      /**
       * The fan-out: the status Store's `props` ({prop: {component id: value}}) onto every
       * output this callback declares; a prop the Store leaves out is left as it is.
       * @returns {Array} one value per output, in the order Dash lists them
       */
      showStatus: function (view) {
        var ctx = window.dash_clientside.callback_context;
        var noUpdate = window.dash_clientside.no_update;
        var props = view && typeof view === "object" && view.props ? view.props : {};
        var has = Object.prototype.hasOwnProperty;
        return ctx.outputs_list.map(function (o) {
          var values = props[String(o.property).split("@")[0]];
          return values && has.call(values, o.id) ? values[o.id] : noUpdate;
        });
      },

      /**
       * The event log from the status Store's `events`: {rows, more}: the whole list
       * ([[step, kind, text]], newest first) and the line counting evaluations not listed; or
       * {add, keep, caps, more}: only the new events, put on top of what is shown, keeping
       * the newest caps[kind] of a frequent kind, as the run state does (the server sends the
       * whole list whenever the state dropped anything else).
       * @returns {Array|Object} TR_EVENTS.children
       */
      showEvents: function (view, shown) {
        var ev = view && typeof view === "object" ? view.events : undefined;
        var items;
        if (ev && Array.isArray(ev.rows)) {
          items = ev.rows.map(eventItem);
        } else if (ev && Array.isArray(ev.add)) {
          var old = (Array.isArray(shown) ? shown : [shown]).filter(function (c) {
            return kindOf(c) !== undefined;
          });
          var caps = ev.caps || {};
          var seen = {};
          items = ev.add
            .map(eventItem)
            .concat(old)
            .filter(function (c) {
              var k = kindOf(c);
              seen[k] = (seen[k] || 0) + 1;
              return !(k in caps) || seen[k] <= caps[k];
            })
            .slice(0, ev.keep || 32);
        } else {
          return window.dash_clientside.no_update;
        }
        if (items.length === 0) {
          return [NO_EVENTS];
        }
        return ev.more ? items.concat([moreItem(ev.more)]) : items;
      },

      /**
       * The pace: a running mean of the actual time between ticks, measured here because the
       * tick interval is only the least a tick takes (the timer restarts after each answer;
       * a busy server makes 500 ms ticks come every 600-700 ms). A gap much longer than a
       * tick (a pause, a background tab) is not a sample; a new interval starts afresh.
       * The server reads `ms` once `n` samples are in (views.training.parse_pace).
       * @returns {Object} TR_PACE.data: {last, ms, n, every}
       */
      measurePace: function (_n, pace, interval) {
        var now = Date.now();
        var every = Number(interval) || 0;
        var p = pace && typeof pace === "object" ? pace : {};
        if (p.every !== every || typeof p.last !== "number") {
          return { last: now, ms: null, n: 0, every: every };
        }
        var gap = now - p.last;
        var typical = typeof p.ms === "number" ? Math.max(every, p.ms) : every;
        if (gap <= 0 || gap > 3 * typical + 1000) {
          return { last: now, ms: p.ms, n: p.n, every: every };
        }
        var ms = typeof p.ms === "number" ? p.ms + 0.3 * (gap - p.ms) : gap;
        return { last: now, ms: Math.round(ms), n: (p.n || 0) + 1, every: every };
      },

      /**
       * The event filter: hides the kinds whose group is unticked, by classes on the list
       * (training.css), so a tick's new entries obey it without a request.
       * @returns {string} TR_EVENTS.className
       */
      eventFilter: function (shown, options) {
        var on = Array.isArray(shown) ? shown : [];
        var hidden = (options || [])
          .map(function (o) {
            return o.value;
          })
          .filter(function (v) {
            return on.indexOf(v) < 0;
          });
        return ["tr-events"]
          .concat(
            hidden.map(function (v) {
              return "tr-hide-" + v;
            })
          )
          .join(" ");
      },

      /**
       * Export CSV: the server answered with a link to the streamed file; follow it as a
       * download (the hidden <a download> whose href just changed), leaving the page as it is.
       * @returns {*} no_update
       */
      download: function (href) {
        var ctx = window.dash_clientside.callback_context;
        var id = ctx.triggered && ctx.triggered.length ? ctx.triggered[0].prop_id.split(".")[0] : null;
        var link = id ? document.getElementById(id) : null;
        if (href && link) {
          link.click();
        }
        return window.dash_clientside.no_update;
      },

      /**
       * The tick interval chosen in the select, if it is one the select offers.
       * @returns {number} TICK.interval
       */
      tickInterval: function (value, options) {
        var allowed = (options || []).some(function (o) {
          return String(o.value) === String(value);
        });
        return allowed ? Number(value) : window.dash_clientside.no_update;
      },
    },
  });
})();
