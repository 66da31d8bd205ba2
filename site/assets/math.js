// Render math with the vendored KaTeX (no network): pymdownx.arithmatex's spans/divs (generic
// mode) and the inline TeX of catalog prose (<span class="arithmatex">$...$</span>, written by
// icon_registry.docs_site.escape). Catalog TeX is data: KaTeX builds the DOM itself from it, with
// trust: false (no \href, \url, \includegraphics, \htmlClass ...: they render as an error), a
// fresh macro table per formula (a \gdef cannot reach the next one) and bounded expansion.
(function () {
  function strip(text, display) {
    text = text.trim();
    if (display && text.startsWith("\\[") && text.endsWith("\\]")) return text.slice(2, -2);
    if (!display && text.startsWith("\\(") && text.endsWith("\\)")) return text.slice(2, -2);
    if (text.startsWith("$$") && text.endsWith("$$")) return text.slice(2, -2);
    if (!display && text.length > 2 && text.startsWith("$") && text.endsWith("$")) return text.slice(1, -1);
    return text;
  }
  function options(display) {
    return { displayMode: display, throwOnError: false, trust: false, strict: "ignore", maxExpand: 1000, maxSize: 20,
             macros: {} };
  }
  function render(root) {
    if (typeof katex === "undefined") return;
    root.querySelectorAll(".arithmatex").forEach(function (el) {
      if (el.dataset.iconRendered) return;
      var display = el.tagName === "DIV";
      try {
        katex.render(strip(el.textContent, display), el, options(display));
        el.dataset.iconRendered = "1";
      } catch (err) {
        el.classList.add("icon-math-error");
        el.title = String(err);
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { render(document); });
  } else {
    render(document);
  }
  window.iconRenderMath = render;
})();
