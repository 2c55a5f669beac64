// Refreshes the dashboard's panels in place: every `.ops-panel[id]` without a chart, whoever
// adds it, is swapped for the same panel of a fresh render of this page, and marked when its
// content changed. Paused while the tab is hidden; the interval is #ops-live's
// data-refresh-seconds (the view's ?refresh=N).
(function () {
  "use strict";
  const live = document.getElementById("ops-live");
  if (!live) return;
  const seconds = Math.max(1, parseInt(live.dataset.refreshSeconds, 10) || 30);
  const state = document.getElementById("ops-live-state");
  let refreshes = 0;
  let lastRun = Date.now();
  let timer = null;
  let running = false;

  function panels(root) {
    return Array.from(root.querySelectorAll(".ops-panel[id]")).filter((panel) => !panel.querySelector("canvas"));
  }
  // What counts as a change: not the ticking relative times, not a form's fresh CSRF token.
  function fingerprint(panel) {
    const copy = panel.cloneNode(true);
    copy.querySelectorAll("time.ops-reltime").forEach((node) => { node.textContent = ""; });
    copy.querySelectorAll("input[name=csrfmiddlewaretoken]").forEach((node) => node.removeAttribute("value"));
    copy.querySelectorAll(".ops-changed-note").forEach((node) => node.remove());
    return copy.innerHTML;
  }
  const known = new Map(panels(document).map((panel) => [panel.id, fingerprint(panel)]));

  function mark(panel, changed) {
    panel.classList.toggle("ops-changed", changed);
    const heading = panel.querySelector("h2");
    if (changed && heading) {
      const note = document.createElement("span");
      note.className = "ops-changed-note";
      note.textContent = "changed";
      heading.appendChild(note);
    }
  }
  function say(text, bad) {
    state.textContent = text ? "· " + text : "";
    state.className = bad ? "ops-bad" : "";
  }

  function apply(fresh) {
    const changed = [];
    const freshPanels = panels(fresh);
    const freshIds = new Set(freshPanels.map((panel) => panel.id));
    freshPanels.forEach((next) => {
      const print = fingerprint(next);
      let current = document.getElementById(next.id);
      if (!current) {
        const parent = next.parentElement && next.parentElement.id && document.getElementById(next.parentElement.id);
        if (!parent) return;
        current = document.createElement("div");
        parent.appendChild(current);
      }
      const isChanged = known.get(next.id) !== print;
      if (isChanged) {
        current.innerHTML = next.innerHTML;
        changed.push(next.id);
      }
      current.className = next.className;
      current.id = next.id;
      known.set(next.id, print);
      mark(current, isChanged);
    });
    panels(document).forEach((panel) => {
      if (!freshIds.has(panel.id)) { panel.remove(); known.delete(panel.id); }
    });
    const updated = fresh.getElementById("ops-updated");
    if (updated) document.getElementById("ops-updated").innerHTML = updated.innerHTML;
    if (window.opsRelativeTimes) window.opsRelativeTimes(document);
    return changed;
  }

  async function refresh() {
    if (running) return;
    running = true;
    lastRun = Date.now();
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "XMLHttpRequest" } });
      if (response.redirected && /\/login\//.test(response.url)) {
        say("signed out: reload the page to sign in", true);
        return;
      }
      if (!response.ok) {
        say(`refresh failed (HTTP ${response.status}), trying again in ${seconds} s`, true);
        return;
      }
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      const changed = apply(fresh);
      refreshes += 1;
      document.body.dataset.refreshes = String(refreshes);
      say(changed.length ? `${changed.length} panel${changed.length === 1 ? "" : "s"} changed` : "");
    } catch (error) {
      say(`refresh failed (${error.message}), trying again in ${seconds} s`, true);
    } finally {
      running = false;
    }
  }

  function schedule() {
    clearTimeout(timer);
    if (document.hidden) {
      say("paused while this tab is hidden");
      return;
    }
    const wait = Math.max(0, lastRun + seconds * 1000 - Date.now());
    timer = setTimeout(async () => { await refresh(); schedule(); }, wait);
  }
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) say("");
    schedule();
  });
  document.body.dataset.refreshes = "0";
  schedule();
})();
