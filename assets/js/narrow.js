/* Comparison charts on a phone (issue 17, item 16).
 *
 * The figures come from the server laid out for a desktop card (layouts/figures/comparison.py):
 * a legend above or inside the plot and source notes as annotations wrapped at ~150
 * characters. At 390 px the legend wrapped over the title and the y ticks, and the notes ran
 * off the right edge. A figure does not know the width it is drawn at, so on a narrow screen
 * this script adjusts each Comparison chart after Plotly draws it: the legend goes under the
 * plot (Plotly moves the bottom margin to fit it), and each note leaves the figure for a
 * paragraph under it, where the browser wraps it to the width. A figure is adjusted once per
 * version (``layout.meta.narrow``), so this never loops with Plotly's own margin redraws; a new
 * figure from the server comes without the mark and is adjusted again. Wide screens are not
 * touched. Named functions only (the CSP forbids eval).
 */
(function () {
    "use strict";

    var NARROW_PX = 576; // Bootstrap's "sm" breakpoint
    var CHARTS = ["cmp-curves-graph", "cmp-efficiency-graph", "cmp-bench-bars", "cmp-bench-radar"];

    function isNote(a) {
        return a && a.yref === "paper" && typeof a.y === "number" && a.y < 0 && a.showarrow === false;
    }

    function noteBox(holder) {
        var box = holder.parentElement.querySelector(":scope > .chart-notes");
        if (!box) {
            box = document.createElement("div");
            box.className = "chart-notes";
            holder.insertAdjacentElement("afterend", box);
        }
        return box;
    }

    function showNotes(holder, notes) {
        var box = noteBox(holder);
        box.textContent = "";
        notes.forEach(function (a) {
            var p = document.createElement("p");
            // Plotly text: <br> between lines; the browser wraps it to the width instead.
            p.textContent = String(a.text || "").replace(/<br>/g, " ").replace(/&lt;/g, "<")
                .replace(/&gt;/g, ">").replace(/&amp;/g, "&");
            box.appendChild(p);
        });
        box.hidden = notes.length === 0;
    }

    function adapt(gd, holder) {
        var layout = gd.layout || {};
        var narrow = window.innerWidth < NARROW_PX;
        var box = holder.parentElement.querySelector(":scope > .chart-notes");
        if (!narrow) {
            // A figure adjusted before the screen widened keeps its notes below it until the
            // server's next figure (which carries them again) replaces it.
            if (box && !(layout.meta && layout.meta.narrow)) box.hidden = true;
            return;
        }
        if (layout.meta && layout.meta.narrow) return;
        var notes = (layout.annotations || []).filter(isNote);
        showNotes(holder, notes);
        var update = {
            "meta.narrow": true,
            "legend.orientation": "h",
            "legend.x": 0,
            "legend.xanchor": "left",
            "legend.y": -0.12,
            "legend.yanchor": "top",
            "legend.yref": "paper",
            "margin.b": 40,
            "margin.l": 8,
            "margin.r": 8,
            "margin.t": 64,
            // The title under the mode bar, from the chart's left edge (not the plot's), so a
            // long one is not drawn under the buttons or cut at the right.
            "title.font.size": 13,
            "title.xref": "container",
            "title.x": 0.02,
            "title.xanchor": "left",
            "title.yref": "container",
            "title.y": 1,
            "title.yanchor": "top",
            "title.pad.t": 34,
        };
        if (layout.polar) {
            // the benchmark names around the circle need the side margins
            update["legend.y"] = -0.05;
            update["margin.l"] = 64;
            update["margin.r"] = 64;
        } else if ((gd.data || []).some(function (t) { return t.type === "bar"; })) {
            update["legend.y"] = -0.32; // under the slanted benchmark names
        }
        (layout.annotations || []).forEach(function (a, i) {
            if (isNote(a)) update["annotations[" + i + "].visible"] = false;
        });
        window.Plotly.relayout(gd, update);
    }

    function watch() {
        CHARTS.forEach(function (id) {
            var holder = document.getElementById(id);
            var gd = holder && holder.querySelector(".js-plotly-plot");
            if (!gd || gd.__narrowWatched || !gd.on) return;
            gd.__narrowWatched = true;
            gd.on("plotly_afterplot", function () {
                adapt(gd, holder);
            });
            adapt(gd, holder);
        });
    }

    function start() {
        // Charts are created when their tab first opens: watch for them as they appear.
        new MutationObserver(watch).observe(document.body, {childList: true, subtree: true});
        window.addEventListener("resize", function () {
            CHARTS.forEach(function (id) {
                var holder = document.getElementById(id);
                var gd = holder && holder.querySelector(".js-plotly-plot");
                if (gd) adapt(gd, holder);
            });
        });
        watch();
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", start);
    } else {
        start();
    }
})();
