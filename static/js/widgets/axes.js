// A chart's frame, ticks and axis titles on a 2-D canvas, in the page's theme: what the -ELBO curves (the replay's,
// elbo-curve.js, and the live training's, loss-curve.js) share. Each curve places its own ticks (a log axis of steps,
// a log axis of nats); this draws them.
//
//   drawAxes(ctx, { width, height, box: {x0, x1, y0, y1}, colours: themeColours(canvas),
//                   xTicks: [[x, "label"]], yTicks: [[y, "label"]], xTitle, yTitle });

const TICK = 4; // px a tick reaches out of the frame

export function drawAxes(ctx, { width, height, box, colours, xTicks, yTicks, xTitle, yTitle }) {
  const { x0, x1, y0, y1 } = box, { background, ink } = colours;
  ctx.fillStyle = background; ctx.fillRect(0, 0, width, height);
  ctx.strokeStyle = ink; ctx.fillStyle = ink; ctx.lineWidth = 1; ctx.font = "11px sans-serif";
  ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  for (const [x, label] of xTicks) {
    ctx.beginPath(); ctx.moveTo(x, y1); ctx.lineTo(x, y1 + TICK); ctx.stroke();
    ctx.fillText(label, x, y1 + TICK + 1);
  }
  ctx.textBaseline = "bottom"; ctx.fillText(xTitle, (x0 + x1) / 2, height - 1);
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (const [y, label] of yTicks) {
    ctx.beginPath(); ctx.moveTo(x0 - TICK, y); ctx.lineTo(x0, y); ctx.stroke();
    ctx.fillText(label, x0 - TICK - 2, y);
  }
  ctx.save(); ctx.translate(10, (y0 + y1) / 2); ctx.rotate(-Math.PI / 2);
  ctx.textAlign = "center"; ctx.fillText(yTitle, 0, 0); ctx.restore();
}
