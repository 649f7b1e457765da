/* Accessible names that contain what the reader sees (axe-core's label-content-name-mismatch): the theme's colour
   mode button shows icons whose titles ("Light", "Dark") are not in its name "Color mode". */
document.addEventListener("DOMContentLoaded", () => {
  for (const icon of document.querySelectorAll(".theme-switch-button i")) {
    icon.setAttribute("aria-hidden", "true");
    icon.removeAttribute("title");
  }
});
/* A table output wider than the column scrolls in its box; the box takes the keyboard focus so that it can be
   scrolled with the arrow keys (axe-core's scrollable-region-focusable). */
document.addEventListener("DOMContentLoaded", () => {
  const boxes = ".cell_output .output.text_html, .cell_output .output.text_html > div:has(> table)";
  for (const box of document.querySelectorAll(boxes)) {
    if (box.scrollWidth > box.clientWidth + 1 && !box.querySelector("a, button, input, select, textarea")) {
      box.setAttribute("tabindex", "0");
    }
  }
});
