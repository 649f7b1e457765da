/* "Live Code" (Thebe) without a network: say so within a few seconds instead of "Loading thebe from CDN..." forever.
 *
 * When the reader clicks "Live Code", sphinx-thebe adds a <script> for thebe from unpkg.com, and thebe then asks
 * mybinder.org for a kernel (built from binder/). Offline, that script either fails at once or never arrives.
 * This file (added to every page by _ext/book_launch.py) watches for both: a failed load of that script, or no
 * thebe after TIMEOUT_MS, and then replaces the endless "Loading..." with a message that says what happened and
 * what still works. Clicking "Live Code" again tries again.
 */
(function () {
  "use strict";
  var TIMEOUT_MS = 5000;
  var timer = null;

  function thebeUrl() {
    // sphinx-thebe declares it in an inline script: `const THEBE_JS_URL = "https://unpkg.com/thebe@.../index.js"`
    return typeof THEBE_JS_URL === "undefined" ? null : THEBE_JS_URL; // eslint-disable-line no-undef
  }

  function thebeLoaded() {
    return typeof window.thebelab !== "undefined";
  }

  function showOffline(reason) {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    if (thebeLoaded()) return;
    var button = document.querySelector(".thebe-launch-button");
    if (!button) return;
    button.textContent = "Live Code is unavailable offline";
    button.classList.add("thebe-offline");
    var note = document.getElementById("thebe-offline-note");
    if (!note) {
      note = document.createElement("p");
      note.id = "thebe-offline-note";
      note.className = "thebe-offline-note";
      note.setAttribute("role", "status");
      button.insertAdjacentElement("afterend", note);
    }
    note.textContent =
      "Live Code could not start: " + reason + ". It needs the internet (thebe from unpkg.com and a " +
      "kernel from mybinder.org). The explorers on this page work without it; to run the chapter yourself, " +
      "use the Binder or Colab button when you are online, or `make lab` on your own machine.";
  }

  // A <script> that fails to load fires "error" on itself only: listen in the capture phase.
  window.addEventListener(
    "error",
    function (event) {
      var target = event.target;
      var url = thebeUrl();
      if (target && target.tagName === "SCRIPT" && url && target.src === url) {
        showOffline("thebe could not be downloaded");
      }
    },
    true
  );

  // Arm the timeout when the reader asks for Live Code (before the theme's own click handler runs).
  document.addEventListener(
    "click",
    function (event) {
      var target = event.target instanceof Element ? event.target : null;
      if (!target || !target.closest('[onclick*="initThebe"], .thebe-launch-button')) return;
      if (thebeLoaded()) return;
      var note = document.getElementById("thebe-offline-note");
      if (note) note.remove();
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(function () {
        timer = null;
        showOffline("thebe did not load within " + TIMEOUT_MS / 1000 + " seconds");
      }, TIMEOUT_MS);
    },
    true
  );
})();
