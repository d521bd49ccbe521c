// Draws the dashboard's charts from the JSON the server embedded in the page, and runs the
// retrain preview. Data is only ever inserted as text (never as HTML): model and pattern names
// come from the database.
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  const COLORS = { cost: "#2563eb", baseline: "#dc2626", requests: "#94a3b8",
                   p50: "#16a34a", p95: "#f59e0b", p99: "#dc2626" };

  function dollars(value) {
    const amount = Math.abs(value);
    const digits = amount >= 1 || amount === 0 ? 2 : amount >= 0.01 ? 4 : 6;
    return (value < 0 ? "-$" : "$") + amount.toFixed(digits);
  }

  // Animations off: the page is read (and screenshotted) as a snapshot, not watched.
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = true;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;

  function chart(id, config) {
    const canvas = document.getElementById(id);
    return canvas ? new Chart(canvas, config) : null;
  }

  function drawCharts(reports) {
    if (!reports || reports.totals.requests === 0) return;
    chart("spend-chart", {
      data: {
        labels: reports.daily.map((d) => d.day),
        datasets: [
          { type: "bar", label: "actual cost", data: reports.daily.map((d) => d.cost_usd),
            backgroundColor: COLORS.cost, order: 2 },
          { type: "line", label: "baseline: always " + data.baseline.model,
            data: reports.daily.map((d) => d.baseline_cost_usd), borderColor: COLORS.baseline,
            backgroundColor: COLORS.baseline, order: 1 },
        ],
      },
      options: { scales: { y: { beginAtZero: true, ticks: { callback: dollars } } },
                 plugins: { tooltip: { callbacks: {
                   label: (c) => c.dataset.label + ": " + dollars(c.parsed.y) } } } },
    });
    const models = reports.by_model;
    chart("model-chart", {
      type: "bar",
      data: {
        labels: models.map((m) => m.name || "no model answered"),
        datasets: [
          { label: "cost", data: models.map((m) => m.cost_usd), backgroundColor: COLORS.cost,
            yAxisID: "y" },
          { label: "requests", data: models.map((m) => m.requests),
            backgroundColor: COLORS.requests, yAxisID: "requests" },
        ],
      },
      options: { scales: {
        y: { beginAtZero: true, position: "left", ticks: { callback: dollars } },
        requests: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } },
      } },
    });
    const providers = reports.providers;
    chart("latency-chart", {
      type: "bar",
      data: {
        labels: providers.map((p) => p.name || "none"),
        datasets: ["p50", "p95", "p99"].map((key) => ({
          label: key, data: providers.map((p) => p.latency_ms[key]),
          backgroundColor: COLORS[key] })),
      },
      options: { scales: { y: { beginAtZero: true, title: { display: true, text: "ms" } } } },
    });
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "—" : String(text);
    row.appendChild(td);
  }

  function describe(o) {
    if (!o) return "—";
    return o.model + " (" + o.confidence_level + ", bound " + o.confidence_bound.toFixed(3) +
      ", " + o.sample_count + (o.sample_count === 1 ? " sample)" : " samples)");
  }

  function table(headers, rows) {
    const t = document.createElement("table");
    const head = t.createTHead().insertRow();
    headers.forEach((h) => { const th = document.createElement("th"); th.textContent = h;
                             head.appendChild(th); });
    const body = t.createTBody();
    rows.forEach((values) => { const tr = body.insertRow(); values.forEach((v) => cell(tr, v)); });
    return t;
  }

  function showDiff(result, target) {
    target.replaceChildren();
    const heading = document.createElement("p");
    if (result.status !== "dry_run") {
      heading.textContent = result.detail || ("retrain answered: " + result.status);
      target.appendChild(heading);
      return;
    }
    const diff = result.diff || {};
    const added = diff.added || [], changed = diff.changed || [], removed = diff.removed || [];
    heading.id = "retrain-summary";
    heading.textContent = "Dry run against version " + result.current_version + ": " +
      added.length + " added, " + changed.length + " changed, " + removed.length +
      " removed, " + (diff.unchanged || 0) + " unchanged. Nothing was written.";
    target.appendChild(heading);
    const rows = [
      ...added.map((o) => ["added", o.pattern, "—", describe(o)]),
      ...changed.map((c) => ["changed", c.pattern, describe(c.before), describe(c.after)]),
      ...removed.map((o) => ["removed", o.pattern, describe(o), "—"]),
    ];
    if (rows.length) {
      const diffTable = table(["change", "pattern", "before", "after"], rows);
      diffTable.id = "retrain-diff";
      target.appendChild(diffTable);
    }
    const evidence = result.evidence || [];
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = "Evidence: " + evidence.length + " (pattern, model) pair(s) with " +
      "feedback; min samples " + result.params.min_samples + ", confidence threshold " +
      result.params.confidence_threshold + ", window " + result.params.window_days + " days";
    details.appendChild(summary);
    details.appendChild(table(
      ["pattern", "model", "samples", "good", "avg score", "correct"],
      evidence.map((e) => [e.pattern, e.model, e.samples, e.good,
                           e.avg_quality === null ? null : e.avg_quality.toFixed(2),
                           e.correct_rate === null ? null : (e.correct_rate * 100).toFixed(1) + "%"])));
    target.appendChild(details);
  }

  const form = document.getElementById("retrain");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = document.getElementById("retrain-dry-run");
      const state = document.getElementById("retrain-state");
      const target = document.getElementById("retrain-result");
      const query = new URLSearchParams({ dry_run: "true" });
      for (const name of ["min_samples", "confidence_threshold"]) {
        const value = form.elements[name].value;
        if (value) query.set(name, value);
      }
      button.disabled = true;
      state.textContent = "computing…";
      try {
        const response = await fetch("/admin/learning/retrain?" + query, {
          method: "POST", credentials: "same-origin", headers: { accept: "application/json" } });
        const body = await response.json();
        if (!response.ok) throw new Error((body.error && body.error.message) || response.status);
        showDiff(body, target);
        state.textContent = "";
      } catch (error) {
        target.replaceChildren();
        state.textContent = "the preview failed: " + error.message;
      } finally {
        target.hidden = target.childElementCount === 0;
        button.disabled = false;
      }
    });
  }

  drawCharts(data.reports);
  // Lets a test (or a screenshot tool) know the charts are drawn.
  document.body.dataset.chartsReady = "true";
})();
