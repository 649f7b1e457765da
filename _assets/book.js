/* Accessible names that contain what the reader sees (axe-core's label-content-name-mismatch): the theme's colour
   mode button shows icons whose titles ("Light", "Dark") are not in its name "Color mode". */
document.addEventListener("DOMContentLoaded", () => {
  for (const icon of document.querySelectorAll(".theme-switch-button i")) {
    icon.setAttribute("aria-hidden", "true");
    icon.removeAttribute("title");
  }
});
