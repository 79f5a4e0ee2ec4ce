// The dashboard's charts (Chart.js, /vendor/chart.umd.js), drawn from the tables beside them:
// the table is the one source of the numbers (readable without JavaScript, by screen readers),
// its row headers the labels, its rows' data-href the lead-list link a click on a bar follows.
(() => {
  const lang = document.documentElement.lang || "en";
  const css = getComputedStyle(document.documentElement);
  const color = (name, fallback) => (css.getPropertyValue(name) || fallback).trim();
  const COLORS = {
    open: color("--primary", "#3b5bdb"),
    converted: color("--success", "#237a35"),
    closed: "#8a94a8",
    rate: color("--primary", "#3b5bdb"),
    weeks: color("--success", "#237a35"),
  };
  const integer = new Intl.NumberFormat(lang, { maximumFractionDigits: 0 });
  const percent = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 });
  const reduced = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function rowsOf(table) {
    return Array.from(table.tBodies[0].rows).map((row) => ({
      label: row.cells[0].textContent.replace(/\s+/g, " ").trim(),
      value: Number(row.dataset.value || 0),
      href: row.dataset.href || null,
      tip: row.dataset.tip || null,
      kind: row.dataset.kind || null,
    }));
  }

  function draw(canvas) {
    const table = document.getElementById(canvas.dataset.table);
    if (!table || typeof window.Chart === "undefined") return;
    const existing = window.Chart.getChart(canvas);
    if (existing) existing.destroy();
    const rows = rowsOf(table);
    const kind = canvas.dataset.chart;
    const horizontal = canvas.dataset.axis === "y";
    const isPercent = canvas.hasAttribute("data-percent");
    const box = canvas.closest("[data-chart-box]");
    // A horizontal chart grows with its bars, so that every label stays readable.
    if (horizontal) box.style.height = `${Math.max(120, rows.length * 34 + 36)}px`;
    box.classList.add("is-drawn");
    const fill = rows.map((r) => COLORS[r.kind] || COLORS[kind] || COLORS.open);
    const format = (v) => (isPercent ? percent.format(v / 100) : integer.format(v));
    const valueAxis = {
      beginAtZero: true,
      grid: { color: "#edf0f5" },
      ticks: { precision: 0, callback: (v) => format(v) },
      ...(isPercent ? { max: 100 } : {}),
    };
    const labelAxis = { grid: { display: false }, ticks: { autoSkip: !horizontal, maxRotation: 0 } };
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: rows.map((r) => r.label),
        datasets: [{ data: rows.map((r) => r.value), backgroundColor: fill, borderRadius: 4,
                     maxBarThickness: horizontal ? 22 : 28 }],
      },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: reduced ? false : { duration: 250 },
        locale: lang,
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: (item) => {
                const row = rows[item.dataIndex];
                return row.tip ? `${format(row.value)} · ${row.tip}` : format(row.value);
              },
            },
          },
        },
        scales: horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
        onHover: (event, elements) => {
          const row = elements.length ? rows[elements[0].index] : null;
          canvas.classList.toggle("is-pointing", Boolean(row && row.href));
        },
        onClick: (event, elements) => {
          const row = elements.length ? rows[elements[0].index] : null;
          if (row && row.href) window.location.assign(row.href);
        },
      },
    });
  }

  function drawAll(root) {
    if (typeof window.Chart === "undefined") return;
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    window.Chart.defaults.color = color("--muted", "#5f6b85");
    root.querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  drawAll(document);
  document.addEventListener("htmx:afterSettle", (event) => {
    if (event.detail.target && event.detail.target.id === "dashboard-results") drawAll(event.detail.target);
  });

  // A date typed or picked means a date range; another period forgets the dates. In the
  // capture phase, so that the form's values are set before htmx reads them.
  document.addEventListener("change", (event) => {
    const form = event.target.closest(".dash-filters");
    if (!form) return;
    const period = form.querySelector("[data-period]");
    if (event.target.matches("[data-range-date]") && event.target.value) {
      period.value = "range";
    } else if (event.target === period && period.value !== "range") {
      form.querySelectorAll("[data-range-date]").forEach((input) => { input.value = ""; });
    }
  }, true);
})();
