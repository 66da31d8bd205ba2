// Filters for the periodic table page (the paper's table and the one beyond it): by row (q),
// column (p) and status. Inline, no CDN.
(function () {
  function setup() {
    var tables = document.querySelectorAll("table.icon-table");
    if (!tables.length) return;
    var rowSel = document.getElementById("icon-filter-row");
    var colSel = document.getElementById("icon-filter-column");
    var statusSel = document.getElementById("icon-filter-status");
    var counter = document.getElementById("icon-filter-count");
    function apply() {
      var row = rowSel.value, col = colSel.value, status = statusSel.value, shown = 0;
      tables.forEach(function (table) { shown += filter(table, row, col, status); });
      if (counter) counter.textContent = shown + " method" + (shown === 1 ? "" : "s") + " shown";
    }
    function filter(table, row, col, status) {
      var shown = 0;
      table.querySelectorAll("[data-col]").forEach(function (el) {
        if (el.tagName === "TH" || el.tagName === "TD") {
          el.classList.toggle("icon-hidden", col !== "" && el.dataset.col !== col);
        }
      });
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        tr.classList.toggle("icon-hidden", row !== "" && tr.dataset.row !== row);
      });
      table.querySelectorAll("a.icon-method").forEach(function (a) {
        var hide = status !== "" && a.dataset.status !== status;
        a.classList.toggle("icon-hidden", hide);
        var cell = a.closest("td");
        if (!hide && !cell.classList.contains("icon-hidden") && !cell.parentElement.classList.contains("icon-hidden")) shown++;
      });
      table.querySelectorAll("td.icon-cell").forEach(function (td) {
        var empty = td.dataset.status === "empty";
        td.classList.toggle("icon-dim", status !== "" && (empty ? status !== "empty" : !td.querySelector("a.icon-method:not(.icon-hidden)")));
      });
      return shown;
    }
    [rowSel, colSel, statusSel].forEach(function (s) { s.addEventListener("change", apply); });
    var reset = document.getElementById("icon-filter-reset");
    if (reset) reset.addEventListener("click", function () { rowSel.value = colSel.value = statusSel.value = ""; apply(); });
    apply();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup); else setup();
})();
