// The Reconstruct tab's drawing pad: black strokes on white, as a person draws on paper (the server's preprocessing
// inverts and fits it as MNIST was made). At the end of each stroke the picture goes to the server as a PNG data URL:
// props.value, then gr.HTML's change event (app.py). options: pad_px (CSS size), brush_px.

import { setupCanvas } from "./canvas.js";

export function mountDrawing(element, props, trigger, { pad_px: size, brush_px: brush }) {
  const pad = element.querySelector("canvas.vae-pad");
  const ctx = setupCanvas(pad, size, size);
  ctx.setTransform(pad.width / size, 0, 0, pad.height / size, 0, 0);
  ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#000"; ctx.lineWidth = brush;
  const clear = () => { ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, size, size); };
  clear();
  let last = null, drawn = false;
  const at = (e) => {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * size / r.width, (e.clientY - r.top) * size / r.height];
  };
  const line = (from, to) => { ctx.beginPath(); ctx.moveTo(...from); ctx.lineTo(...to); ctx.stroke(); };
  pad.addEventListener("pointerdown", (e) => {
    pad.setPointerCapture(e.pointerId);
    last = at(e); line(last, last); drawn = true; // a dot for a click
  });
  pad.addEventListener("pointermove", (e) => {
    if (!last) return;
    const p = at(e); line(last, p); last = p;
  });
  const send = () => {
    if (!last) return;
    last = null;
    props.value = pad.toDataURL("image/png");
    trigger("change");
  };
  pad.addEventListener("pointerup", send);
  pad.addEventListener("pointercancel", send);
  element.querySelector(".vae-pad-clear").addEventListener("click", () => {
    clear();
    if (drawn) { drawn = false; props.value = null; trigger("change"); }
  });
  element.dataset.ready = "true";
}
