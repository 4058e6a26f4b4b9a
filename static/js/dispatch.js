// The Dispatch board: drag a card to another column to move the task (the server's state machine decides),
// or onto a vehicle to assign it. A refused move shows the server's reason and the card stays where it was.
// Clicking a card shows its destination on the map (and clicking a destination picks its card).

import { readJSON } from "./format.js";
import { DispatchMap } from "./dispatch_map.js";

const board = document.querySelector(".dispatch.editable");
const columns = document.getElementById("board");
const error = document.getElementById("board-error");
const token = () => document.querySelector("input[name=csrfmiddlewaretoken]").value;

for (const swatch of document.querySelectorAll(".swatch[data-colour]")) swatch.style.backgroundColor = swatch.dataset.colour;

function pick(id) {
  for (const card of columns.querySelectorAll(".task-card.selected")) card.classList.remove("selected");
  const card = columns.querySelector(`.task-card[data-id="${CSS.escape(String(id))}"]`);
  if (!card) return;
  card.classList.add("selected");
  card.scrollIntoView({ block: "nearest", inline: "nearest" });
}

const map = new DispatchMap(document.getElementById("dispatch-map"), readJSON("dispatch-map-data"), pick);

columns.addEventListener("click", (e) => {
  if (e.target.closest("a")) return;
  const card = e.target.closest(".task-card");
  if (!card) return;
  pick(card.dataset.id);
  map.highlight(Number(card.dataset.id));
});

async function move(id, body) {
  const response = await fetch(`/dispatch/tasks/${id}/move/`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": token() },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({ error: `The server answered ${response.status}.` }));
  if (!response.ok) throw new Error(answer.error || `The server answered ${response.status}.`);
  return answer;
}

function say(message) {
  error.textContent = message;
  error.hidden = !message;
}

if (board) {
  board.addEventListener("dragstart", (e) => {
    const card = e.target.closest(".task-card");
    if (!card) return;
    e.dataTransfer.setData("text/plain", card.dataset.id);
    e.dataTransfer.effectAllowed = "move";
  });
  for (const target of board.querySelectorAll(".column, .vehicle")) {
    target.addEventListener("dragover", (e) => { e.preventDefault(); target.classList.add("over"); });
    target.addEventListener("dragleave", () => target.classList.remove("over"));
    target.addEventListener("drop", async (e) => {
      e.preventDefault();
      target.classList.remove("over");
      const id = e.dataTransfer.getData("text/plain");
      const card = board.querySelector(`.task-card[data-id="${CSS.escape(id)}"]`);
      if (!card) return;
      const body = target.dataset.status ? { status: target.dataset.status } : { device: Number(target.dataset.device) };
      try {
        const answer = await move(id, body);
        say("");
        const column = board.querySelector(`.column[data-status="${answer.status}"]`);
        if (column && card.parentElement !== column) column.append(card);
        for (const c of board.querySelectorAll(".column")) c.querySelector("h2 b").textContent = String(c.querySelectorAll(".task-card").length);
        map.setStatus(answer.id, answer.status, column ? column.getAttribute("aria-label") : "");
        if (body.device !== undefined) {
          card.querySelector(".meta").textContent = target.firstChild.textContent.trim();
        }
      } catch (err) {
        say(err.message);
      }
    });
  }
}

window.fleetDispatch = { map, ready: true };
