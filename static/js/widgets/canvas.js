// Canvas helpers the widgets share: crisp canvases at the device's pixel ratio, grey pixels drawn with nearest
// neighbour, a digit and its grid painted from decoded pixels, and the theme (Gradio's light or dark) followed.

export const MARK = "#ff8c00"; // the cell nearest the centre (vae.imaging.MARK_COLOUR)

export function setupCanvas(canvas, cssWidth, cssHeight) {
  const dpr = window.devicePixelRatio || 1;
  canvas.style.width = `${cssWidth}px`; // height follows the aspect ratio when CSS shrinks the width
  canvas.width = Math.round(cssWidth * dpr);
  canvas.height = Math.round(cssHeight * dpr);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  return ctx;
}

// grey uint8 pixels -> an offscreen canvas of their size, ready to be drawn scaled with nearest neighbour
export function greyToCanvas(pixels, offset, width, height, target) {
  const canvas = target || Object.assign(document.createElement("canvas"), { width, height });
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(width, height);
  const d = image.data;
  for (let i = 0; i < width * height; i++) {
    const v = pixels[offset + i];
    d[4 * i] = v; d[4 * i + 1] = v; d[4 * i + 2] = v; d[4 * i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

// The digit's and the grid's canvases in `root` (.vae-digit, .vae-grid) at digitPx and gridPx CSS px, for
// paintCells; side: pixels per side of a digit, grid: cells per side
export function makeCells(root, { digitPx, gridPx, side, grid }) {
  const digit = root.querySelector("canvas.vae-digit"), gridCanvas = root.querySelector("canvas.vae-grid");
  return {
    digit, grid: gridCanvas, side, cells: grid,
    digitCtx: setupCanvas(digit, digitPx, digitPx),
    gridCtx: setupCanvas(gridCanvas, gridPx, gridPx),
    digitSmall: Object.assign(document.createElement("canvas"), { width: side, height: side }),
    gridSmall: Object.assign(document.createElement("canvas"), { width: grid * side, height: grid * side }),
    gridImage: new ImageData(grid * side, grid * side),
  };
}

// The digit and the grid of makeCells' canvases, for the decoded view `pixels` (1 + grid^2, side^2): the digit
// first, then the grid's cells row-major; the cell nearest the centre outlined
export function paintCells(cells, pixels) {
  const { side, cells: grid } = cells, n = side * side;
  greyToCanvas(pixels, 0, side, side, cells.digitSmall);
  cells.digitCtx.drawImage(cells.digitSmall, 0, 0, cells.digit.width, cells.digit.height);
  // the grid: tile the cells into one image, then scale it with nearest neighbour
  const image = cells.gridImage, d = image.data, W = grid * side;
  for (let c = 0; c < grid * grid; c++) {
    const top = Math.floor(c / grid) * side, left = (c % grid) * side, src = (1 + c) * n;
    for (let y = 0; y < side; y++) {
      let o = 4 * ((top + y) * W + left), q = src + y * side;
      for (let x = 0; x < side; x++, o += 4, q++) {
        const v = pixels[q];
        d[o] = v; d[o + 1] = v; d[o + 2] = v; d[o + 3] = 255;
      }
    }
  }
  cells.gridSmall.getContext("2d").putImageData(image, 0, 0);
  const g = cells.gridCtx;
  g.drawImage(cells.gridSmall, 0, 0, cells.grid.width, cells.grid.height);
  const cell = cells.grid.width / grid, centre = Math.floor((grid - 1) / 2), lw = Math.max(2, Math.round(cell / 14));
  g.strokeStyle = MARK; g.lineWidth = lw;
  g.strokeRect(centre * cell + lw / 2, centre * cell + lw / 2, cell - lw, cell - lw);
}

// Gradio's theme, light or dark (?__theme=dark, or the visitor's system setting): the page's own colours
export function themeColours(element) {
  const css = getComputedStyle(element);
  return {
    background: css.getPropertyValue("--body-background-fill").trim() || "#ffffff",
    ink: css.getPropertyValue("--body-text-color").trim() || "#333333",
    dark: document.body.classList.contains("dark"),
  };
}

// Widgets drawn in the theme's colours (restyle()) and repaint callbacks, called when the theme changes
const themed = new Set(), repaints = new Set();
let themeWatch = null;

export function followTheme(widget) {
  themed.add(widget);
  if (!themeWatch && document.body) {
    themeWatch = new MutationObserver(() => {
      for (const w of themed) if (w.canvas.isConnected) w.restyle(); else themed.delete(w);
      for (const repaint of repaints) repaint();
    });
    themeWatch.observe(document.body, { attributes: true, attributeFilter: ["class"] });
  }
}

export const unfollowTheme = (widget) => themed.delete(widget);
export const onThemeChange = (repaint) => repaints.add(repaint);
