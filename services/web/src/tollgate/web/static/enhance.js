// Small enhancements; every page works without them.
(function () {
  "use strict";
  // Dates are rendered on the server: tell it the browser's time zone for the next pages.
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && document.cookie.indexOf("tz=") === -1) {
    document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
  }
  // Copy buttons: <button data-copy="id-of-input">.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var input = document.getElementById(button.dataset.copy);
      navigator.clipboard.writeText(input.value).then(function () {
        button.textContent = "Copied";
      });
    });
  });
})();
