// Background report job page: polls /reports/jobs/<id>.json every second, moves the progress bar, and
// reloads the page once the job is done (the server then renders the tables and the download links) or failed.

const POLL_MS = 1000;
const root = document.getElementById("job");
const $ = (id) => document.getElementById(id);

function show(s) {
  const bar = $("job-bar");
  if (!bar) return;
  bar.max = Math.max(1, s.total);
  bar.value = s.status === "done" ? bar.max : s.done;
  bar.textContent = `${s.percent} %`;
  $("job-percent").textContent = `${s.percent} %`;
  $("job-done").textContent = s.done;
  $("job-total").textContent = s.total;
  $("job-rows").textContent = s.rows.toLocaleString();
  $("job-rows-wrap").hidden = !s.rows; // only builders that report their rows as they go
  $("job-state").textContent = s.status;
  root.dataset.status = s.status;
  window.fleetJob = s; // for the browser tests
}

async function poll() {
  try {
    const response = await fetch(root.dataset.statusUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (response.ok) {
      const s = await response.json();
      show(s);
      if (s.finished) {
        window.location.replace(s.url);
        return;
      }
    }
  } catch {
    // a network blip: try again on the next tick
  }
  setTimeout(poll, POLL_MS);
}

if (root) poll();
