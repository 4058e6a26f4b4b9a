// The Integrations page: polls the JSON at #integrations' data-status-url every two seconds and updates each
// account's status, last success, rate-limit state and counts in place (text only: vendor strings stay text).

const POLL_MS = 2000;
const root = document.getElementById("integrations");

function cell(text, numeric) {
  const td = document.createElement("td");
  if (numeric) td.className = "num";
  td.textContent = text;
  return td;
}

function rateText(rate) {
  if (!rate) return "-";
  const next = rate.next_call_in_s > 0 ? `in ${rate.next_call_in_s} s` : "now";
  return `${rate.tokens} of ${rate.burst} requests in hand, next call ${next}`;
}

function showCounts(body, account) {
  const names = Object.keys(account.last_run).sort();
  if (!names.length) return;
  const rows = names.map((name) => {
    const last = account.last_run[name];
    const day = account.day[name] || {};
    const tr = document.createElement("tr");
    tr.dataset.resource = name;
    tr.append(cell(name), cell(last.fetched, true), cell(last.created, true), cell(last.rejected, true));
    tr.append(cell(day.fetched ?? 0, true), cell(day.created ?? 0, true), cell(day.rejected ?? 0, true));
    return tr;
  });
  body.replaceChildren(...rows);
}

function show(account) {
  const section = root.querySelector(`section[data-account="${account.id}"]`);
  if (!section) return;
  const field = (name) => section.querySelector(`[data-field="${name}"]`);
  field("status").textContent = account.status;
  field("last_success").textContent = account.last_success
    ? account.last_success.slice(0, 19).replace("T", " ")
    : "never";
  field("rate").textContent = rateText(account.rate);
  showCounts(field("counts"), account);
  section.dataset.lastRun = account.last_run_started || "";
}

async function poll() {
  try {
    const response = await fetch(root.dataset.statusUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (response.ok) {
      const body = await response.json();
      body.accounts.forEach(show);
      window.fleetIntegrations = body; // for the browser tests
    }
  } catch {
    // a network blip: try again on the next tick
  }
  setTimeout(poll, POLL_MS);
}

if (root) poll();
