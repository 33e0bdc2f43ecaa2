// What cannot be undone asks first. A form with data-confirm shows that text in a confirmation dialog when it is
// sent, with {name} replaced by the value of its field `name` and {ticked:name} by how many of its `name` boxes are
// ticked; Cancel sends nothing. It listens before the other scripts (the capture phase), so a cancelled form shows
// no progress either. Served from this site, so the Content-Security-Policy needs no exception.
(function () {
  "use strict";

  function filled(form, template) {
    return template.replace(/\{(ticked:)?([\w-]+)\}/g, function (_whole, ticked, name) {
      if (ticked) {
        return String(form.querySelectorAll("input[name='" + name + "']:checked").length);
      }
      var field = form.elements.namedItem(name);
      return field && typeof field.value === "string" ? field.value.trim() : "";
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.dataset || !form.dataset.confirm || form.dataset.sending) {
      return;
    }
    if (!window.confirm(filled(form, form.dataset.confirm))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
})();
