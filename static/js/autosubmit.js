// A select marked data-autosubmit submits its form when it changes (the form's button still works without JS).

for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form.submit());
}
