// Render pymdownx.arithmatex (generic mode) spans/divs with the vendored KaTeX. No network.
(function () {
  function strip(text, display) {
    text = text.trim();
    if (display && text.startsWith("\\[") && text.endsWith("\\]")) return text.slice(2, -2);
    if (!display && text.startsWith("\\(") && text.endsWith("\\)")) return text.slice(2, -2);
    if (text.startsWith("$$") && text.endsWith("$$")) return text.slice(2, -2);
    return text;
  }
  function render(root) {
    if (typeof katex === "undefined") return;
    root.querySelectorAll(".arithmatex").forEach(function (el) {
      if (el.dataset.iconRendered) return;
      var display = el.tagName === "DIV";
      try {
        katex.render(strip(el.textContent, display), el, { displayMode: display, throwOnError: false });
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
