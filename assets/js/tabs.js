/*
 * The main tab strip as an ARIA tablist, reachable and usable by keyboard (issue 17, item 2).
 *
 * Why here: dcc.Tabs (Dash 4.4) renders each tab as a <div> with only a click handler, so the
 * tabs are not in the Tab order, say nothing to a screen reader and ignore keys. This script
 * adds what the WAI-ARIA Authoring Practices "tabs" pattern asks for, with manual activation
 * (a tab switch redraws charts, so arrows only move focus and Enter or Space opens):
 *   - role="tablist" on the strip, role="tab" and aria-selected on each tab;
 *   - roving tabindex: only the selected tab is in the Tab order (0), the others -1;
 *   - aria-controls on the selected tab, naming its panel (only the open panel is mounted);
 *   - ArrowLeft / ArrowRight (wrapping), Home and End move focus; Enter and Space open.
 * React re-renders the tabs on every selection but keeps the same elements, and leaves
 * attributes it does not manage alone, so the attributes are refreshed whenever the strip's
 * classes or children change (a MutationObserver on the strip only).
 */
(function () {
  "use strict";

  var STRIP = ".app-tabs"; // className of dcc.Tabs in layouts/shell.py
  var TAB = ".app-tab";
  var strip = null;
  var observer = null;

  function tabs() {
    return strip ? Array.prototype.slice.call(strip.querySelectorAll(TAB)) : [];
  }

  function sync() {
    if (!strip) return;
    strip.setAttribute("role", "tablist");
    strip.setAttribute("aria-label", "Sections");
    var panel = document.querySelector(".tab-content [role='tabpanel']");
    tabs().forEach(function (tab) {
      var selected = tab.classList.contains("tab--selected");
      tab.setAttribute("role", "tab");
      tab.setAttribute("aria-selected", selected ? "true" : "false");
      tab.setAttribute("tabindex", selected ? "0" : "-1");
      if (selected && panel && panel.id) {
        tab.setAttribute("aria-controls", panel.id);
      } else {
        tab.removeAttribute("aria-controls");
      }
    });
  }

  function attach() {
    var found = document.querySelector(STRIP);
    if (found === strip) return;
    if (observer) observer.disconnect();
    strip = found;
    if (!strip) return;
    observer = new MutationObserver(sync);
    observer.observe(strip, {
      attributes: true,
      attributeFilter: ["class"],
      childList: true,
      subtree: true,
    });
    sync();
  }

  function onKey(event) {
    var tab = event.target && event.target.closest && event.target.closest(TAB);
    if (!tab || !strip || !strip.contains(tab)) return;
    var all = tabs();
    var at = all.indexOf(tab);
    var next = null;
    switch (event.key) {
      case "ArrowRight":
        next = all[(at + 1) % all.length];
        break;
      case "ArrowLeft":
        next = all[(at - 1 + all.length) % all.length];
        break;
      case "Home":
        next = all[0];
        break;
      case "End":
        next = all[all.length - 1];
        break;
      case "Enter":
      case " ":
        event.preventDefault(); // Space would scroll the page
        tab.click(); // dcc.Tabs' own handler: value, URL hash and history as for a click
        return;
      default:
        return;
    }
    event.preventDefault();
    next.focus();
  }

  document.addEventListener("keydown", onKey);
  // The strip appears when Dash first renders (and would again if the layout were replaced):
  // look for it after each change to the page's structure, which is cheap when it is there.
  // If the open panel is mounted later than the strip, aria-controls is filled in then.
  new MutationObserver(function () {
    if (!strip || !strip.isConnected) {
      attach();
    } else {
      var selected = strip.querySelector(".tab--selected");
      if (selected && !selected.hasAttribute("aria-controls")) sync();
    }
  }).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", attach);
})();
