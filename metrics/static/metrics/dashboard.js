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
