// A background job's page (a report, a GPX import): polls the JSON at #job's data-status-url every second, moves
// the progress bar (templates/jobs/_progress.html), and reloads the page once the job is done (the server then
// renders its result) or failed.

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
  if ($("job-rows")) {
    $("job-rows").textContent = s.rows.toLocaleString();
    $("job-rows-wrap").hidden = !s.rows; // only report builders that count their rows as they go
  }
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
