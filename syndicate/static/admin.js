// Republish progress: poll the job's status and reload the page when it is over.
(function () {
  "use strict";
  var box = document.querySelector("[data-job-status]");
  if (!box) return;
  var url = box.getAttribute("data-job-status");
  var elapsed = document.getElementById("elapsed");
  var start = Date.now() - 1000 * (parseInt(box.getAttribute("data-elapsed"), 10) || 0);
  setInterval(function () {
    if (elapsed) elapsed.textContent = Math.round((Date.now() - start) / 1000) + " s";
  }, 500);
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (job) {
        if (job && job.state !== "running") window.location.reload();
        else setTimeout(poll, 700);
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 500);
})();
