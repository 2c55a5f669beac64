// Keeps every <time class="ops-reltime"> saying "4 min ago" (the server wrote the absolute time
// in the user's display zone into its title). window.opsRelativeTimes(root) re-runs it after a
// page part is replaced.
(function () {
  "use strict";
  const units = [["day", 86400], ["h", 3600], ["min", 60], ["s", 1]];
  function describe(seconds) {
    const past = seconds >= 0;
    let left = Math.abs(seconds);
    if (left < 5) return "just now";
    for (const [name, size] of units) {
      if (left >= size) {
        const count = Math.floor(left / size);
        const label = name === "day" ? (count === 1 ? "day" : "days") : name;
        return past ? `${count} ${label} ago` : `in ${count} ${label}`;
      }
    }
    return "just now";
  }
  function update(root) {
    const now = Date.now();
    (root || document).querySelectorAll("time.ops-reltime[datetime]").forEach((node) => {
      const at = Date.parse(node.getAttribute("datetime"));
      if (!Number.isNaN(at)) node.textContent = describe(Math.round((now - at) / 1000));
    });
  }
  window.opsRelativeTimes = update;
  document.addEventListener("DOMContentLoaded", () => update(document));
  setInterval(() => { if (!document.hidden) update(document); }, 15000);
})();
