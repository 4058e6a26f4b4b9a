// On a narrow screen the top bar's links and "Log out" fold behind a "Menu" button (see .topbar in fleet.css).
// Without JavaScript the links simply wrap.

const bar = document.querySelector(".topbar");
const toggle = bar?.querySelector(".menu-toggle");
if (toggle) {
  toggle.hidden = false;
  bar.classList.add("has-menu");
  toggle.addEventListener("click", () => {
    const open = bar.classList.toggle("open");
    toggle.setAttribute("aria-expanded", String(open));
  });
}
