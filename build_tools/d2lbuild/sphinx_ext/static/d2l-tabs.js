/* Framework tabs: one choice for the whole site.
 *
 * Every tab set on a page shows the same tab. Clicking a tab switches all of them, keeps
 * the clicked tab where it was on the screen, and remembers the choice (localStorage), so
 * the next page, or the next visit, opens on it. A `?tab=pytorch` query selects a tab (and
 * remembers it). Elements with class `d2l-tab-only` and a `data-tab` attribute (tab panels,
 * the notebook and Colab links) show only for the selected tab.
 *
 * This file loads in <head>, so the choice is applied before the page is drawn: a style
 * rule hides the other tabs' elements from the start, and no panel ever flickers.
 */
(function () {
  "use strict";
  var KEY = "d2l-tab";
  var tabs = window.D2L_TABS || [];
  var root = document.documentElement;

  function valid(tab) { return tabs.indexOf(tab) >= 0; }
  function stored() { try { return window.localStorage.getItem(KEY); } catch (e) { return null; } }
  function store(tab) { try { window.localStorage.setItem(KEY, tab); } catch (e) { /* private mode */ } }
  function cssString(text) { return '"' + String(text).replace(/["\\]/g, "\\$&") + '"'; }

  var query = null;
  try { query = new URLSearchParams(window.location.search).get("tab"); } catch (e) { /* old browser */ }
  if (valid(query)) { store(query); }
  var current = valid(query) ? query : (valid(stored()) ? stored() : tabs[0]);

  var style = document.createElement("style");
  style.id = "d2l-tab-style";
  (document.head || root).appendChild(style);

  function apply(tab) {
    if (!valid(tab)) { return; }
    current = tab;
    root.setAttribute("data-d2l-tab", tab);
    style.textContent = ".d2l-tab-only[data-tab]:not([data-tab=" + cssString(tab) + "])" +
      "{display:none !important}";
    var buttons = document.querySelectorAll(".d2l-tab-button");
    for (var i = 0; i < buttons.length; i++) {
      var on = buttons[i].getAttribute("data-tab") === tab;
      buttons[i].setAttribute("aria-selected", on ? "true" : "false");
      buttons[i].tabIndex = on ? 0 : -1;
      buttons[i].classList.toggle("active", on);
    }
  }

  function select(tab, anchor) {
    // Keep the element the reader clicked at the same place on the screen, although the
    // panels above it change height.
    var before = anchor ? anchor.getBoundingClientRect().top : 0;
    apply(tab);
    store(tab);
    if (anchor) {
      var delta = anchor.getBoundingClientRect().top - before;
      if (delta) { window.scrollBy(0, delta); }
    }
  }

  apply(current);

  document.addEventListener("DOMContentLoaded", function () { apply(current); });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".d2l-tab-button");
    if (!button) { return; }
    event.preventDefault();
    select(button.getAttribute("data-tab"), button);
  });

  document.addEventListener("keydown", function (event) {
    var button = event.target.closest && event.target.closest(".d2l-tab-button");
    if (!button || (event.key !== "ArrowLeft" && event.key !== "ArrowRight")) { return; }
    var bar = button.parentNode.querySelectorAll(".d2l-tab-button");
    var list = Array.prototype.slice.call(bar);
    var next = list[(list.indexOf(button) + (event.key === "ArrowRight" ? 1 : list.length - 1)) % list.length];
    event.preventDefault();
    select(next.getAttribute("data-tab"), next);
    next.focus();
  });

  // Another window of the site switched tabs: follow it.
  window.addEventListener("storage", function (event) {
    if (event.key === KEY && valid(event.newValue)) { apply(event.newValue); }
  });

  window.d2lTabs = { select: select, current: function () { return current; } };
})();
