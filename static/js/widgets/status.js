// A tab's status line (.vae-status in `element`): what the tab is doing or why it failed, hidden when there is
// nothing to say. It knows no tab: each one hands over its own element.

// text: the message ("" or none hides the line); isError: styled as an error (.vae-error, page.css)
export function showStatus(element, text, isError) {
  const status = element.querySelector(".vae-status");
  if (!status) return;
  status.textContent = text || "";
  status.style.display = text ? "block" : "none";
  status.classList.toggle("vae-error", !!isError);
}
