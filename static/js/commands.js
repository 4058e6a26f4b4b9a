// The command form shows the attribute fields of the chosen type only, and the confirmation for a dangerous
// type only (fleet/web/commands.py marks each field's types in data-types). Without JS every field shows.

const form = document.getElementById("command-form");
const type = form && form.querySelector("select[name=type]");

function show() {
  for (const field of form.querySelectorAll("[data-types]")) {
    const mine = field.dataset.types.split(" ").includes(type.value);
    field.hidden = !mine;
    for (const input of field.querySelectorAll("input")) input.disabled = !mine;
  }
}

if (type) {
  type.addEventListener("change", show);
  show();
}
