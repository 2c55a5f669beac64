// Draws the dashboard's trend charts from the JSON the view embeds (no network calls).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("ops-chart-data").textContent);
  const palette = ["#2e7d32", "#ef6c00", "#c62828", "#6a1b9a", "#1565c0", "#00838f"];
  const common = {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    interaction: { mode: "index", intersect: false },
    scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
  };
  function series(label, values, index, extra) {
    const colour = palette[index % palette.length];
    return Object.assign({ label: label, data: values, borderColor: colour, backgroundColor: colour + "55", pointRadius: 2 }, extra || {});
  }
  function draw(id, type, datasets, options) {
    const canvas = document.getElementById(id);
    canvas.parentElement.style.height = "260px";
    return new Chart(canvas, { type: type, data: { labels: data.labels, datasets: datasets }, options: Object.assign({}, common, options || {}) });
  }
  const healthOrder = { ok: 0, degraded: 1, reauth_required: 2, quarantined: 3 };
  const states = Object.keys(data.accounts).sort((a, b) => (healthOrder[a] ?? 9) - (healthOrder[b] ?? 9));
  draw("chart-accounts", "line", states.map((s, i) => series(s, data.accounts[s], i, { fill: true })), { scales: { y: { stacked: true, beginAtZero: true } } });
  draw("chart-catalog", "line", [
    series("active playlists", data.playlists_active, 4),
    series("tracks", data.tracks_total, 0),
    series("tracks with features", data.tracks_with_features, 5),
  ]);
  draw("chart-activity", "bar", [series("reshuffles", data.reshuffles, 4), series("job failures", data.job_failures, 2)]);
  draw("chart-errors", "line", [series("pending dead letters", data.dead_letters, 2), series("Spotify retries (cumulative)", data.retries, 1)]);
  document.body.dataset.chartsReady = "true";
})();

// Job durations: a small chart per job, its daily p95 over 30 days, fetched once (staff-only JSON)
// so the live refresh, which never redraws a chart, does not recompute it.
(function () {
  "use strict";
  const grid = document.getElementById("ops-job-durations");
  if (!grid) return;
  const holder = grid.querySelector(".ops-small-multiples");
  const state = grid.querySelector(".ops-job-durations-state");
  function duration(ms) {
    if (ms < 1000) return Math.round(ms) + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
    if (ms < 3600000) return (ms / 60000).toFixed(1) + " min";
    return (ms / 3600000).toFixed(1) + " h";
  }
  function chart(job, days, values) {
    const figure = document.createElement("figure");
    const caption = document.createElement("figcaption");
    const link = document.createElement(grid.dataset.jobRunsUrl ? "a" : "span");
    link.textContent = job;
    if (grid.dataset.jobRunsUrl) link.href = grid.dataset.jobRunsUrl + "?job_name=" + encodeURIComponent(job) + "&status__exact=success";
    caption.appendChild(link);
    const box = document.createElement("div");
    box.className = "ops-small-chart";
    const canvas = document.createElement("canvas");
    canvas.id = "chart-duration-" + job;
    canvas.dataset.job = job;
    box.appendChild(canvas);
    figure.append(caption, box);
    holder.appendChild(figure);
    new Chart(canvas, {
      type: "line",
      data: { labels: days, datasets: [{ label: "p95", data: values, borderColor: "#1565c0", backgroundColor: "#1565c055", pointRadius: 2, fill: true }] },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: (item) => "p95 " + duration(item.parsed.y) } } },
        scales: { x: { ticks: { maxTicksLimit: 4 } }, y: { beginAtZero: true, ticks: { maxTicksLimit: 4, callback: (value) => duration(value) } } },
      },
    });
  }
  fetch(grid.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then((response) => {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    })
    .then((data) => {
      const jobs = Object.keys(data.jobs);
      state.textContent = jobs.length ? "A gap is a day without a successful run." : "No successful job runs in the last 30 days.";
      jobs.forEach((job) => chart(job, data.days, data.jobs[job]));
      document.body.dataset.jobDurationsReady = "true";
    })
    .catch((error) => {
      state.textContent = "Job durations unavailable (" + error.message + ").";
      state.className = "ops-job-durations-state ops-bad";
      document.body.dataset.jobDurationsReady = "error";
    });
})();
