// Long actions show their progress. A form marked data-progress shows its progress box when sent and cannot be
// sent twice. When it carries a file, the file goes up in the background so the box can say how much has gone,
// then that the server is checking the rows; the answer then replaces the page, as a normal submission would.
// Without this script the forms work the same, only without the box.
(function () {
  "use strict";

  function show(box, text, value, max) {
    var bar = box.querySelector("progress");
    if (value === undefined) {
      bar.removeAttribute("value");
    } else {
      bar.max = max;
      bar.value = value;
    }
    box.querySelector("[data-progress-text]").textContent = text;
    box.hidden = false;
  }

  function replacePage(html, url) {
    var page = new DOMParser().parseFromString(html, "text/html");
    history.replaceState(null, "", url);
    document.replaceChild(document.adoptNode(page.documentElement), document.documentElement);
    window.scrollTo(0, 0);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-progress")) {
      return;
    }
    if (form.dataset.sending) {
      event.preventDefault();  // a second click while the first is on its way
      return;
    }
    var box = form.querySelector("[data-progress-box]");
    form.dataset.sending = "yes";
    form.setAttribute("aria-busy", "true");
    var file = form.querySelector("input[type=file]");
    if (!file || !file.files.length || !window.FormData) {
      show(box, box.dataset.working);
      return;
    }
    event.preventDefault();
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        show(box, box.dataset.uploading.replace("{percent}", Math.round(100 * e.loaded / e.total)), e.loaded, e.total);
      }
    });
    request.upload.addEventListener("load", function () { show(box, box.dataset.working); });
    request.addEventListener("load", function () { replacePage(request.responseText, request.responseURL); });
    request.addEventListener("error", function () {
      show(box, box.dataset.failed, 0, 1);
      delete form.dataset.sending;
      form.removeAttribute("aria-busy");
    });
    show(box, box.dataset.uploading.replace("{percent}", "0"), 0, 1);
    request.send(new FormData(form, event.submitter));
  });
})();
