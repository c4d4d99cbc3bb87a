/* VAE 2-D Latent Explorer: the in-browser decoder and the latent-space canvases.
 *
 * app.py puts this file in the page (gr.HTML head=...). It fetches the page bundle, one safetensors file that
 * webapp/bundle.py writes from the model: the decoder's tensors, the test set's latent means, and the decoder's
 * computation as an ordered list of operations. The Decoder below executes that list, with WebAssembly SIMD
 * (static/linear.wat; plain JavaScript where SIMD is missing), and knows no layer names: any architecture the
 * bundle writer can describe runs here unchanged. It decodes the digit and the 10x10 grid for every slider
 * position right here, so a drag is painted at display rate with no server round trip; the server's /generate
 * and /grid compute the same pixels with PyTorch, and tests/test_browser.py checks that the two agree within
 * 1/255 for both architectures.
 *
 * The Training tab replays the model's training the same way: webapp/replay.py's bundle holds a decoder per
 * snapshot (compact: int8 with scales, float16 or float32) and the test digits' latent means at each; every
 * snapshot gets a Decoder of its own, so scrubbing and playing decode the grid here too.
 *
 * window.vaeExplorer: mountExplore(element, props, trigger, watch), mountPosterior(element, props, watch),
 * mountDrawing(element, props, trigger), mountTraining(element, props, trigger, watch), setView(z1, z2, span),
 * setTrainingView(z1, z2, span), setTab(tab), setSnapshot(k), playTraining(), showPosterior({mu, sigma}),
 * randomLatent(), decodeView(z1, z2, span), decodeTraining(z1, z2, span, k), `training` (the tab's state) and
 * `stats` (timings, for bench/).
 */
(function () {
  "use strict";
  if (window.vaeExplorer) return;

  const WASM_BASE64 = "@WASM_BASE64@"; // static/linear.wasm, inlined by webapp/page.py
  const BUNDLE_FORMAT = "vae-explorer-page/2"; // webapp/bundle.py's FORMAT
  const Z_LIMIT = 3; // the sliders' range [-3, 3]
  const Z_STEP = 0.05; // the sliders' step
  const SPAN_LIMIT = 3; // the span slider's largest value
  const GRID = 10; // cells per side
  const SIDE = 28; // pixels per side of a digit
  const ROWS = 1 + GRID * GRID; // the digit at z, then the grid's cells row-major
  const ROWS_PADDED = Math.ceil(ROWS / 4) * 4; // the SIMD kernel works on 4 rows at a time
  const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]; // matplotlib tab10, digits 0-9
  const MARK = "#ff8c00"; // the cell nearest the centre (vae.imaging.MARK_COLOUR)
  const STATS_KEEP = 20000;

  // ------------------------------------------------------------------------------------------ safetensors

  // The dtypes the bundles use; F16 is widened to float32 as it is read (the replay's float16 weights)
  const DTYPES = { F32: Float32Array, F16: Uint16Array, I32: Int32Array, I8: Int8Array, U8: Uint8Array };

  // a safetensors file -> {metadata, tensors: {name: {shape, dtype, data}}}; a truncated or damaged file throws
  function readSafetensors(buffer) {
    if (buffer.byteLength < 8) throw new Error(`a ${buffer.byteLength}-byte file is not a safetensors file`);
    const view = new DataView(buffer);
    const headerLength = Number(view.getBigUint64(0, true));
    if (8 + headerLength > buffer.byteLength) throw new Error("the file ends inside its safetensors header");
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, headerLength)));
    const start = 8 + headerLength;
    const tensors = {};
    for (const [name, info] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      const Type = DTYPES[info.dtype];
      if (!Type) throw new Error(`tensor ${name} has dtype ${info.dtype}; expected one of ${Object.keys(DTYPES)}`);
      const [a, b] = info.data_offsets, count = info.shape.reduce((n, d) => n * d, 1);
      if (b - a !== count * Type.BYTES_PER_ELEMENT || start + b > buffer.byteLength) {
        throw new Error(`tensor ${name} (${info.dtype} ${JSON.stringify(info.shape)}) is truncated or damaged`);
      }
      let data = new Type(buffer.slice(start + a, start + b)); // a copy: aligned for its type
      if (info.dtype === "F16") data = halfToFloat(data);
      tensors[name] = { shape: info.shape, dtype: info.dtype, data };
    }
    return { metadata: header.__metadata__ || {}, tensors };
  }

  // IEEE 754 half-precision bits -> Float32Array, exactly (every half value is a float32 value): a table of all
  // 65,536 values, made once. Subnormal halves are m * 2^-24; normal ones (1024 + m) * 2^(e - 25).
  let halfTable = null;

  function halfToFloat(bits) {
    if (!halfTable) {
      halfTable = new Float32Array(65536);
      for (let h = 0; h < 65536; h++) {
        const sign = h & 0x8000 ? -1 : 1, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
        halfTable[h] = exponent === 0 ? sign * mantissa * 2 ** -24 // zeros (signed) and subnormals
          : exponent === 31 ? (mantissa ? NaN : sign * Infinity)
          : sign * (1024 + mantissa) * 2 ** (exponent - 25);
      }
    }
    const out = new Float32Array(bits.length);
    for (let i = 0; i < bits.length; i++) out[i] = halfTable[bits[i]];
    return out;
  }

  // ------------------------------------------------------------------------------------------ the decoder
  // It executes the bundle's program (webapp/bundle.py writes it from the model): an ordered list of operations
  // on a (rows, width) activation, each naming the tensors it uses. Nothing here knows a layer's name or an
  // architecture. Widths are padded to multiples of 8 for the SIMD kernel; padded columns stay 0.

  const pad8 = (n) => Math.ceil(n / 8) * 8;

  // The SIMD kernel's module, compiled once for every decoder (the replay makes one per snapshot); null where the
  // browser lacks WebAssembly SIMD
  let wasmCompiled;

  function wasmModule() {
    if (wasmCompiled === undefined) {
      const bytes = Uint8Array.from(atob(WASM_BASE64), (c) => c.charCodeAt(0));
      const valid = typeof WebAssembly === "object" && WebAssembly.validate(bytes);
      wasmCompiled = valid ? new WebAssembly.Module(bytes) : null;
    }
    return wasmCompiled;
  }

  class Decoder {
    // program: the operations; tensors: {name: {shape, data}}; inputDim: latent dimensions; outputShape: [h, w]
    constructor(program, tensors, inputDim, outputShape) {
      this.inputDim = inputDim;
      const get = (name) => {
        const t = tensors[name];
        if (!t) throw new Error(`the weights file has no tensor ${name}`);
        return t;
      };
      const linears = [];
      let depth = 0, widest = pad8(inputDim);
      // --- compile: check every operation and give it the width of the activations it sees;
      // -> {steps, width (padded), real}
      const compile = (ops, width, real, level) => {
        depth = Math.max(depth, level);
        const steps = ops.map((op) => {
          if (op.op === "linear") {
            const w = get(op.weight), b = get(op.bias);
            const [n, k] = w.shape;
            if (k !== real) throw new Error(`${op.weight} takes ${k} inputs, the activations have ${real}`);
            const layer = { op: "linear", n, np: pad8(n), kp: width, w, b };
            linears.push(layer);
            width = layer.np; real = n; widest = Math.max(widest, width);
            return layer;
          }
          if (op.op === "layernorm") {
            const gamma = get(op.weight).data, beta = get(op.bias).data;
            if (gamma.length !== real) throw new Error(`${op.weight} normalises ${gamma.length}, not ${real}`);
            return { op: "layernorm", gamma, beta, eps: op.eps, real };
          }
          if (op.op === "residual") {
            const body = compile(op.body, width, real, level + 1);
            if (body.real !== real) throw new Error(`a residual branch maps ${real} features to ${body.real}`);
            return { op: "residual", body: body.steps, real };
          }
          if (op.op === "leaky_relu") return { op: "leaky_relu", slope: op.slope, real };
          if (op.op === "silu" || op.op === "sigmoid") return { op: op.op, real };
          throw new Error(`the browser decoder does not know the operation ${op.op}`);
        });
        return { steps, width, real };
      };
      const compiled = compile(program, inputDim, inputDim, 0);
      this.program = compiled.steps;
      const [height, widthPx] = outputShape;
      if (compiled.real !== height * widthPx) {
        throw new Error(`the decoder makes ${compiled.real} values per point, expected ${height}x${widthPx} pixels`);
      }
      this.pixelsPerRow = height * widthPx;
      // --- memory: packed weights, then activation buffers (two, plus one per level of residual nesting), then
      // the input points
      let floats = 0;
      const alloc = (n) => { const at = floats; floats += n + (4 - (n % 4)) % 4; return at; };
      for (const l of linears) { l.wAt = alloc(l.np * l.kp); l.bAt = alloc(l.np); }
      this.buffers = Array.from({ length: 2 + depth }, () => alloc(ROWS_PADDED * widest));
      this.inputAt = alloc(ROWS_PADDED * inputDim);
      this.rows = ROWS_PADDED;
      const bytes = floats * 4;
      const module = wasmModule();
      this.simd = module !== null;
      if (this.simd) {
        this.memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) + 1 });
        const instance = new WebAssembly.Instance(module, { env: { memory: this.memory } });
        this.kernel = instance.exports.linear;
        this.heap = new Float32Array(this.memory.buffer);
      } else {
        this.heap = new Float32Array(floats);
      }
      // --- pack W (N, K) row-major into (N/8, K, 8) blocks; padding stays 0
      for (const l of linears) {
        const [n, k] = l.w.shape, src = l.w.data, h = this.heap;
        for (let o = 0; o < n; o++) {
          const block = l.wAt + (o >> 3) * l.kp * 8 + (o & 7);
          for (let i = 0; i < k; i++) h[block + i * 8] = src[o * k + i];
        }
        h.set(l.b.data, l.bAt);
        delete l.w; delete l.b; // the packed copy is all the decoder needs
      }
      this.pixels = new Uint8ClampedArray(ROWS * this.pixelsPerRow);
      this.backend = this.simd ? "WebAssembly SIMD" : "JavaScript";
    }

    linear(x, l, y) {
      if (this.simd) {
        this.kernel(x * 4, l.wAt * 4, l.bAt * 4, y * 4, this.rows, l.kp, l.np);
        return;
      }
      const h = this.heap, K = l.kp, N = l.np; // same packed layout, scalar loops
      for (let nb = 0; nb < N; nb += 8) {
        const wBlock = l.wAt + nb * K;
        for (let r = 0; r < this.rows; r++) {
          const xRow = x + r * K, yRow = y + r * N + nb;
          for (let j = 0; j < 8; j++) {
            let acc = h[l.bAt + nb + j];
            for (let k = 0, wp = wBlock + j; k < K; k++, wp += 8) acc += h[xRow + k] * h[wp];
            h[yRow + j] = acc;
          }
        }
      }
    }

    elementwise(at, stride, real, fn) {
      const h = this.heap;
      for (let r = 0; r < this.rows; r++) {
        const row = at + r * stride;
        for (let i = 0; i < real; i++) h[row + i] = fn(h[row + i]);
      }
    }

    layerNorm(at, stride, { real, gamma, beta, eps }) { // in place, over each row's `real` features
      const h = this.heap;
      for (let r = 0; r < this.rows; r++) {
        const s = at + r * stride;
        let mean = 0;
        for (let i = 0; i < real; i++) mean += h[s + i];
        mean /= real;
        let variance = 0;
        for (let i = 0; i < real; i++) { const c = h[s + i] - mean; variance += c * c; }
        const inv = 1 / Math.sqrt(variance / real + eps); // biased variance, as torch
        for (let i = 0; i < real; i++) h[s + i] = (h[s + i] - mean) * inv * gamma[i] + beta[i];
      }
    }

    // Run `steps` on the activations at `cur` (row stride `stride`) without touching the buffers in `busy`;
    // -> [where the result is, its stride]
    run(steps, cur, stride, busy) {
      const h = this.heap;
      const free = (...also) => this.buffers.find((b) => !busy.includes(b) && !also.includes(b));
      for (const step of steps) {
        if (step.op === "linear") {
          const out = free(cur);
          this.linear(cur, step, out);
          cur = out; stride = step.np;
        } else if (step.op === "leaky_relu") {
          const s = step.slope;
          this.elementwise(cur, stride, step.real, (v) => (v >= 0 ? v : s * v));
        } else if (step.op === "silu") {
          this.elementwise(cur, stride, step.real, (v) => v / (1 + Math.exp(-v)));
        } else if (step.op === "sigmoid") {
          this.elementwise(cur, stride, step.real, (v) => 1 / (1 + Math.exp(-v)));
        } else if (step.op === "layernorm") {
          this.layerNorm(cur, stride, step);
        } else if (step.op === "residual") { // cur + body(cur): the body runs on a copy
          const copy = free(cur);
          h.copyWithin(copy, cur, cur + this.rows * stride);
          const [out] = this.run(step.body, copy, stride, [...busy, cur]);
          for (let r = 0; r < this.rows; r++) {
            const a = cur + r * stride, b = out + r * stride;
            for (let i = 0; i < step.real; i++) h[a + i] += h[b + i];
          }
        }
      }
      return [cur, stride];
    }

    // points: Float32Array (rows * inputDim), rows <= ROWS -> uint8 (rows, pixels) = round(255 p), a view on
    // this.pixels. Each row is computed on its own, in the same order whatever the batch.
    decode(points, rows) {
      const h = this.heap, dim = this.inputDim;
      this.rows = Math.ceil(rows / 4) * 4; // the SIMD kernel's tile height
      h.fill(0, this.inputAt, this.inputAt + this.rows * dim);
      h.set(points.subarray(0, rows * dim), this.inputAt);
      const [out, stride] = this.run(this.program, this.inputAt, dim, []);
      const px = this.pixels, n = this.pixelsPerRow;
      for (let r = 0; r < rows; r++) {
        const row = out + r * stride;
        for (let i = 0; i < n; i++) px[r * n + i] = 255 * h[row + i]; // clamped, rounded to nearest (even)
      }
      return px.subarray(0, rows * n);
    }
  }

  // ------------------------------------------------------------------------------------------ the cell cache
  // The sliders move in steps of 0.05 and the default span makes the grid's spacing 1/3, so while a slider
  // is dragged most cells land on latent points already decoded (9 of 10 columns after a move of 1.0, all of
  // them when dragging back). Points on the 1/180 lattice (every multiple of 0.05 of z and of span lands
  // there) are snapped onto it exactly and their pixels kept, keyed by the lattice point; the pixels are the
  // ones a full decode of that float32 point gives, so the cache changes speed, never the picture.
  const LATTICE = 180;
  const CACHE_LIMIT = 20000; // cells, 784 bytes each, per model
  const cacheState = { enabled: true, hits: 0, misses: 0 };

  function latticeKey(v) {
    const k = Math.round(v * LATTICE);
    return Math.abs(v * LATTICE - k) < 1e-6 ? k : null;
  }

  // points: Float64Array (rows * 2) -> uint8 (rows, 784), decoding only the points not in the model's cache
  // (`limit` cells at most, default CACHE_LIMIT)
  function decodeCached({ decoder, cache, limit = CACHE_LIMIT }, points, rows) {
    const n = SIDE * SIDE, out = new Uint8ClampedArray(rows * n);
    const missing = [], keys = [];
    for (let r = 0; r < rows; r++) {
      const a = latticeKey(points[2 * r]), b = latticeKey(points[2 * r + 1]);
      const key = cacheState.enabled && a !== null && b !== null ? a * 100003 + b : null;
      if (key !== null) {
        points[2 * r] = a / LATTICE; points[2 * r + 1] = b / LATTICE;
        const hit = cache.get(key);
        if (hit) { out.set(hit, r * n); cacheState.hits++; continue; }
      }
      missing.push(r); keys.push(key);
    }
    cacheState.misses += missing.length;
    if (missing.length) {
      const batch = new Float32Array(missing.length * 2);
      missing.forEach((r, i) => { batch[2 * i] = points[2 * r]; batch[2 * i + 1] = points[2 * r + 1]; });
      const pixels = decoder.decode(batch, missing.length);
      missing.forEach((r, i) => {
        const cell = pixels.slice(i * n, (i + 1) * n);
        out.set(cell, r * n);
        if (keys[i] !== null) {
          cache.set(keys[i], cell);
          if (cache.size > limit) cache.delete(cache.keys().next().value); // oldest first
        }
      });
    }
    return { pixels: out, decoded: missing.length };
  }

  // The digit at (z1, z2), then the grid, row-major: column i at z1 + linspace(-span, span)[i],
  // row j at z2 + linspace(span, -span)[j] (vae/imaging.py's latent_grid)
  function viewPoints(z1, z2, span) {
    const p = new Float64Array(ROWS * 2); // float64 here: the cache's lattice test needs the exact value
    p[0] = z1; p[1] = z2;
    const step = (2 * span) / (GRID - 1);
    for (let j = 0; j < GRID; j++) {
      const y = j === GRID - 1 ? z2 - span : z2 + span - j * step;
      for (let i = 0; i < GRID; i++) {
        const x = i === GRID - 1 ? z1 + span : z1 - span + i * step;
        const k = 1 + j * GRID + i;
        p[2 * k] = x; p[2 * k + 1] = y;
      }
    }
    return p;
  }

  // ------------------------------------------------------------------------------------------ painting

  function setupCanvas(canvas, cssWidth, cssHeight) {
    const dpr = window.devicePixelRatio || 1;
    canvas.style.width = `${cssWidth}px`; // height follows the aspect ratio when CSS shrinks the width
    canvas.width = Math.round(cssWidth * dpr);
    canvas.height = Math.round(cssHeight * dpr);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    return ctx;
  }

  // grey uint8 pixels -> an offscreen canvas of their size, ready to be drawn scaled with nearest neighbour
  function greyToCanvas(pixels, offset, width, height, target) {
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

  const maps = new Set(); // every themed canvas on the page (latent maps, the -ELBO curve), restyled with the theme
  const themeWatch = new MutationObserver(() => {
    for (const map of maps) if (map.canvas.isConnected) map.restyle(); else maps.delete(map);
    app.painted = null; request(); drawPosterior();
    if (app.training) { app.training.painted = null; requestTraining(); }
  });
  if (document.body) themeWatch.observe(document.body, { attributes: true, attributeFilter: ["class"] });

  // A latent map: the points of `data` ({mu, labels}) coloured by digit, axes, and the overlays draw() is given.
  // moving = true (the training replay): `data` only sizes the axes; the points come with each draw (overlay.cloud)
  class LatentMap {
    constructor(canvas, legend, data, cssSize, moving = false) {
      this.canvas = canvas;
      this.data = data;
      this.moving = moving;
      this.cssSize = cssSize;
      this.margin = { left: 34, right: 8, top: 8, bottom: 30 };
      let extent = Z_LIMIT + 0.5;
      if (data && data.mu.length) {
        const abs = Array.from(data.mu, Math.abs).sort((a, b) => a - b);
        extent = Math.max(extent, abs[Math.floor(0.999 * (abs.length - 1))]);
      }
      this.limit = Math.min(6, Math.ceil(extent * 2) / 2);
      this.ctx = setupCanvas(canvas, cssSize, cssSize);
      this.dpr = canvas.width / cssSize;
      this.restyle();
      maps.add(this);
      if (legend) {
        legend.innerHTML = COLOURS.map((c, d) =>
          `<span class="vae-key"><i style="background:${c}"></i>${d}</span>`).join("");
      }
    }

    toPixel(z1, z2) { // css px
      const m = this.margin, w = this.cssSize - m.left - m.right, h = this.cssSize - m.top - m.bottom;
      const L = this.limit;
      return [m.left + ((z1 + L) / (2 * L)) * w, m.top + ((L - z2) / (2 * L)) * h];
    }

    toLatent(px, py) {
      const m = this.margin, w = this.cssSize - m.left - m.right, h = this.cssSize - m.top - m.bottom;
      return [((px - m.left) / w) * 2 * this.limit - this.limit, this.limit - ((py - m.top) / h) * 2 * this.limit];
    }

    // Gradio's theme, light or dark (?__theme=dark, or the visitor's system setting): the page's own colours
    restyle() {
      const css = getComputedStyle(this.canvas);
      this.colours = {
        background: css.getPropertyValue("--body-background-fill").trim() || "#ffffff",
        ink: css.getPropertyValue("--body-text-color").trim() || "#333333",
        dark: document.body.classList.contains("dark"),
      };
      this.base = this.drawBase();
    }

    drawBase() {
      const base = document.createElement("canvas");
      base.width = this.canvas.width;
      base.height = this.canvas.height;
      const ctx = base.getContext("2d");
      ctx.scale(this.dpr, this.dpr);
      const m = this.margin, s = this.cssSize;
      const { background, ink, dark } = this.colours;
      ctx.fillStyle = background;
      ctx.fillRect(0, 0, s, s);
      const [x0, y0] = this.toPixel(-this.limit, this.limit), [x1, y1] = this.toPixel(this.limit, -this.limit);
      ctx.save();
      ctx.beginPath(); ctx.rect(x0, y0, x1 - x0, y1 - y0); ctx.clip();
      if (this.data && !this.moving) this.drawPoints(ctx, this.data);
      // the sliders' range
      const [r0, q0] = this.toPixel(-Z_LIMIT, Z_LIMIT), [r1, q1] = this.toPixel(Z_LIMIT, -Z_LIMIT);
      ctx.strokeStyle = dark ? "rgba(255,255,255,0.3)" : "rgba(0,0,0,0.25)"; ctx.setLineDash([2, 3]); ctx.lineWidth = 1;
      ctx.strokeRect(r0, q0, r1 - r0, q1 - q0);
      ctx.restore();
      ctx.setLineDash([]);
      ctx.strokeStyle = ink; ctx.lineWidth = 1;
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      ctx.fillStyle = ink; ctx.font = "11px sans-serif";
      for (let t = -Math.floor(this.limit); t <= this.limit; t++) {
        const [px] = this.toPixel(t, 0), [, py] = this.toPixel(0, t);
        ctx.beginPath();
        ctx.moveTo(px, y1); ctx.lineTo(px, y1 + 4); // tick on the z1 axis
        ctx.moveTo(x0 - 4, py); ctx.lineTo(x0, py); // tick on the z2 axis
        ctx.stroke();
        ctx.textAlign = "center"; ctx.textBaseline = "top"; ctx.fillText(String(t), px, y1 + 5);
        ctx.textAlign = "right"; ctx.textBaseline = "middle"; ctx.fillText(String(t), x0 - 6, py);
      }
      ctx.textAlign = "center"; ctx.textBaseline = "bottom"; ctx.fillText("z1", (x0 + x1) / 2, s - 1);
      ctx.save(); ctx.translate(10, (y0 + y1) / 2); ctx.rotate(-Math.PI / 2);
      ctx.textBaseline = "middle"; ctx.fillText("z2", 0, 0); ctx.restore();
      if (!this.data) {
        ctx.fillStyle = ink; ctx.textAlign = "center";
        ctx.fillText("no latents.safetensors beside the weights", (x0 + x1) / 2, (y0 + y1) / 2);
      }
      return base;
    }

    // each latent mean (mu: (N * 2), labels: (N,)) as a 2-px square in its digit's colour
    drawPoints(ctx, { mu, labels }) {
      ctx.globalAlpha = 0.55;
      for (let i = 0; i < labels.length; i++) {
        const [px, py] = this.toPixel(mu[2 * i], mu[2 * i + 1]);
        ctx.fillStyle = COLOURS[labels[i] % 10];
        ctx.fillRect(px - 1, py - 1, 2, 2);
      }
      ctx.globalAlpha = 1;
    }

    // overlay: {cloud: {mu, labels}, point: [z1, z2], window: span, prior, path, ellipse: {mu, sigma}, samples}
    draw(overlay) {
      const ctx = this.ctx;
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.drawImage(this.base, 0, 0);
      ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
      const m = this.margin, s = this.cssSize;
      ctx.save();
      ctx.beginPath(); ctx.rect(m.left, m.top, s - m.left - m.right, s - m.top - m.bottom); ctx.clip();
      if (overlay.cloud) this.drawPoints(ctx, overlay.cloud); // the replay's points, where they are this frame
      if (overlay.prior) { // the prior N(0, I): circles of radius 1, 2, 3 around the origin
        const [ox, oy] = this.toPixel(0, 0), unit = this.toPixel(1, 0)[0] - ox;
        ctx.strokeStyle = "rgba(60, 60, 200, 0.7)"; ctx.lineWidth = 1.2; ctx.setLineDash([4, 3]);
        ctx.fillStyle = "rgba(60, 60, 200, 0.9)"; ctx.font = "10px sans-serif"; ctx.textAlign = "left";
        for (const r of [1, 2, 3]) {
          ctx.beginPath(); ctx.arc(ox, oy, r * unit, 0, 2 * Math.PI); ctx.stroke();
          ctx.fillText(`${r}σ`, ox + r * unit * Math.SQRT1_2 + 2, oy - r * unit * Math.SQRT1_2 - 2);
        }
        ctx.setLineDash([]);
      }
      if (overlay.path) { // the interpolation: a straight line from A to B, and the frame playing now
        const { a, b, at } = overlay.path, [ax, ay] = this.toPixel(a[0], a[1]), [bx, by] = this.toPixel(b[0], b[1]);
        ctx.strokeStyle = "#6a0dad"; ctx.lineWidth = 2.5; ctx.setLineDash([]);
        ctx.beginPath(); ctx.moveTo(ax, ay); ctx.lineTo(bx, by); ctx.stroke();
        ctx.fillStyle = "#6a0dad"; ctx.font = "bold 12px sans-serif"; ctx.textAlign = "center";
        for (const [x, y, name] of [[ax, ay, "A"], [bx, by, "B"]]) {
          ctx.beginPath(); ctx.arc(x, y, 4, 0, 2 * Math.PI); ctx.fill(); ctx.fillText(name, x, y - 8);
        }
        if (at) {
          const [px, py] = this.toPixel(at[0], at[1]);
          ctx.beginPath(); ctx.arc(px, py, 4, 0, 2 * Math.PI); ctx.strokeStyle = "#fff"; ctx.lineWidth = 2; ctx.stroke();
        }
      }
      if (overlay.window !== undefined && overlay.point) {
        const [z1, z2] = overlay.point, span = overlay.window;
        const [a, b] = this.toPixel(z1 - span, z2 + span), [c, d] = this.toPixel(z1 + span, z2 - span);
        ctx.fillStyle = this.colours.dark ? "rgba(255,255,255,0.08)" : "rgba(0,0,0,0.06)"; ctx.fillRect(a, b, c - a, d - b);
        ctx.strokeStyle = this.colours.ink; ctx.lineWidth = 1.5; ctx.strokeRect(a, b, c - a, d - b);
      }
      if (overlay.ellipse) { // the posterior: 1-sigma ellipse to scale, then mu as a crosshair on top of it
        const { mu, sigma } = overlay.ellipse;
        const [cx, cy] = this.toPixel(mu[0], mu[1]);
        const [ex] = this.toPixel(mu[0] + sigma[0], 0), [, ey] = this.toPixel(0, mu[1] + sigma[1]);
        const [ox] = this.toPixel(mu[0], 0), [, oy] = this.toPixel(0, mu[1]);
        ctx.beginPath();
        ctx.ellipse(cx, cy, Math.max(1, Math.abs(ex - ox)), Math.max(1, Math.abs(oy - ey)), 0, 0, 2 * Math.PI);
        ctx.fillStyle = "rgba(255,140,0,0.35)"; ctx.fill();
        ctx.strokeStyle = MARK; ctx.lineWidth = 2; ctx.stroke();
        ctx.strokeStyle = "#000"; ctx.lineWidth = 1.5;
        ctx.beginPath();
        for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
          ctx.moveTo(cx + 3 * dx, cy + 3 * dy); ctx.lineTo(cx + 9 * dx, cy + 9 * dy);
        }
        ctx.stroke();
      }
      for (const [a, b] of overlay.samples || []) { // posterior samples z = mu + sigma * eps
        const [px, py] = this.toPixel(a, b);
        ctx.beginPath(); ctx.arc(px, py, 3, 0, 2 * Math.PI);
        ctx.fillStyle = "#6a0dad"; ctx.fill(); ctx.strokeStyle = "#fff"; ctx.lineWidth = 1; ctx.stroke();
      }
      const point = overlay.point;
      if (point) {
        const [px, py] = this.toPixel(point[0], point[1]);
        ctx.beginPath(); ctx.arc(px, py, 5, 0, 2 * Math.PI);
        ctx.fillStyle = "#ffffff"; ctx.fill();
        ctx.lineWidth = 2.5; ctx.strokeStyle = "#000"; ctx.stroke();
        ctx.beginPath(); ctx.arc(px, py, 2, 0, 2 * Math.PI); ctx.fillStyle = MARK; ctx.fill();
      }
      ctx.restore();
    }
  }

  // ------------------------------------------------------------------------------------------ the app

  const round2 = (v) => Math.round(v * 100) / 100;
  const clampZ = (v) => Math.min(Z_LIMIT, Math.max(-Z_LIMIT, v));
  const snapZ = (v) => round2(Math.round(clampZ(v) / Z_STEP) * Z_STEP);

  const app = {
    state: { z1: 0, z2: 0, span: 1.5, inputTime: null },
    painted: null,
    raf: 0,
    bundles: new Map(), // page bundle path -> Promise of {decoder, latents, cache}
    bundle: null, // the model the Explore tab shows
    explore: null, // {digit, grid, map, readout, digitSmall, gridSmall}
    share: { ready: false, model: null, tab: null }, // what the address holds besides z
    posterior: null, // {map, stats}
    replays: new Map(), // replay bundle path -> Promise of the replay (loadReplay)
    training: null, // the Training tab (mountTraining)
    stats: { frames: [], inputs: [], backend: null, decodeMs: [], decodedRows: [], pathFrames: [], trainingFrames: [] },
  };

  // a path relative to the app's root (which is not the page's URL when the app sits behind a proxy)
  function appURL(path) {
    const root = window.gradio_config && window.gradio_config.root;
    return new URL(path, root ? root.replace(/\/?$/, "/") : document.baseURI).href;
  }

  // A model's page bundle (webapp/bundle.py) -> Promise of {decoder, latents, cache}, fetched once per path
  // One of the app's safetensors files (a page or replay bundle) -> Promise of {metadata, tensors}; refused unless
  // its metadata says `format`
  function fetchSafetensors(path, format) {
    const url = appURL(path);
    return fetch(url, { cache: "force-cache" })
      .then((r) => {
        if (!r.ok) throw new Error(`GET ${url}: HTTP ${r.status}`);
        return r.arrayBuffer();
      })
      .then((buffer) => {
        const file = readSafetensors(buffer);
        if (file.metadata.format !== format) {
          throw new Error(`${url} is a "${file.metadata.format}" file; this page reads "${format}"`);
        }
        return file;
      });
  }

  function load(path) {
    if (!app.bundles.has(path)) {
      app.bundles.set(path, fetchSafetensors(path, BUNDLE_FORMAT)
        .then(({ metadata, tensors }) => {
          const decoder = new Decoder(JSON.parse(metadata.program), tensors, JSON.parse(metadata.input),
                                      JSON.parse(metadata.output));
          const latents = tensors["latents.mu"]
            ? { mu: tensors["latents.mu"].data, labels: tensors["latents.labels"].data } : null;
          return { decoder, latents, cache: new Map() };
        }));
    }
    return app.bundles.get(path);
  }

  function showStatus(element, text, isError) {
    const status = element.querySelector(".vae-status");
    if (!status) return;
    status.textContent = text || "";
    status.style.display = text ? "block" : "none";
    status.classList.toggle("vae-error", !!isError);
  }

  function request() {
    if (!app.raf) app.raf = requestAnimationFrame(paint);
  }

  function decodeView(z1, z2, span, bundle = app.bundle) {
    const t0 = performance.now();
    const { pixels, decoded } = decodeCached(bundle, viewPoints(z1, z2, span), ROWS);
    app.stats.decodeMs.push(performance.now() - t0);
    app.stats.decodedRows.push(decoded);
    if (app.stats.decodeMs.length > STATS_KEEP) {
      app.stats.decodeMs.splice(0, STATS_KEEP / 2);
      app.stats.decodedRows.splice(0, STATS_KEEP / 2);
    }
    return pixels;
  }

  // One model's panel: its digit, its grid and its map, for the decoded view `pixels` (101 x 784)
  function paintPanel(panel, pixels, s) {
    paintCells(panel, pixels);
    panel.map.draw({ point: [s.z1, s.z2], window: s.span, prior: app.showPrior,
                     path: app.path && { a: app.path.a, b: app.path.b, at: app.path.at } });
  }

  // The digit and the 10x10 grid of a panel ({digit, grid, digitCtx, gridCtx, digitSmall, gridSmall, gridImage})
  function paintCells(panel, pixels) {
    const n = SIDE * SIDE;
    // the digit, 28 -> digit canvas, nearest neighbour
    greyToCanvas(pixels, 0, SIDE, SIDE, panel.digitSmall);
    panel.digitCtx.drawImage(panel.digitSmall, 0, 0, panel.digit.width, panel.digit.height);
    // the grid: tile the 100 cells into one 280 x 280 image
    const image = panel.gridImage, d = image.data, W = GRID * SIDE;
    for (let c = 0; c < GRID * GRID; c++) {
      const top = Math.floor(c / GRID) * SIDE, left = (c % GRID) * SIDE, src = (1 + c) * n;
      for (let y = 0; y < SIDE; y++) {
        let o = 4 * ((top + y) * W + left), q = src + y * SIDE;
        for (let x = 0; x < SIDE; x++, o += 4, q++) {
          const v = pixels[q];
          d[o] = v; d[o + 1] = v; d[o + 2] = v; d[o + 3] = 255;
        }
      }
    }
    panel.gridSmall.getContext("2d").putImageData(image, 0, 0);
    const g = panel.gridCtx;
    g.drawImage(panel.gridSmall, 0, 0, panel.grid.width, panel.grid.height);
    const cell = panel.grid.width / GRID, centre = Math.floor((GRID - 1) / 2), lw = Math.max(2, Math.round(cell / 14));
    g.strokeStyle = MARK; g.lineWidth = lw;
    g.strokeRect(centre * cell + lw / 2, centre * cell + lw / 2, cell - lw, cell - lw);
  }

  // The canvases of a panel in `root` (explore.html: .vae-digit, .vae-grid, .vae-map, .vae-legend), drawn at the
  // CSS sizes in props
  function makePanel(root, bundle, props, scale = 1) {
    return {
      ...makeCells(root, props, scale), bundle,
      map: new LatentMap(root.querySelector("canvas.vae-map"), root.querySelector(".vae-legend"), bundle.latents,
                         Math.round((props.map_px || 400) * scale)),
    };
  }

  // The digit's and the grid's canvases in `root` (.vae-digit, .vae-grid), for paintCells
  function makeCells(root, props, scale = 1) {
    const digit = root.querySelector("canvas.vae-digit"), grid = root.querySelector("canvas.vae-grid");
    const digitPx = Math.round((props.digit_px || 252) * scale), gridPx = Math.round((props.grid_px || 560) * scale);
    return {
      digit, grid,
      digitCtx: setupCanvas(digit, digitPx, digitPx),
      gridCtx: setupCanvas(grid, gridPx, gridPx),
      digitSmall: Object.assign(document.createElement("canvas"), { width: SIDE, height: SIDE }),
      gridSmall: Object.assign(document.createElement("canvas"), { width: GRID * SIDE, height: GRID * SIDE }),
      gridImage: new ImageData(GRID * SIDE, GRID * SIDE),
    };
  }

  function paint(frameStart) {
    app.raf = 0;
    const ex = app.explore, s = app.state;
    if (!ex || !app.bundle) return;
    const p = app.painted;
    if (p && p.z1 === s.z1 && p.z2 === s.z2 && p.span === s.span) return;
    paintPanel(ex, decodeView(s.z1, s.z2, s.span), s);
    if (app.compare) paintPanel(app.compare, decodeView(s.z1, s.z2, s.span, app.compare.bundle), s);
    ex.readout.textContent = `z = (${s.z1.toFixed(2)}, ${s.z2.toFixed(2)})`;
    ex.spanReadout.textContent = s.span.toFixed(2);
    app.painted = { z1: s.z1, z2: s.z2, span: s.span };
    const frame = { z1: s.z1, z2: s.z2, span: s.span, input: s.inputTime, frameStart,
                    drawn: performance.now(), next: null, panels: app.compare ? 2 : 1 };
    app.stats.frames.push(frame);
    if (app.stats.frames.length > STATS_KEEP) app.stats.frames.splice(0, STATS_KEEP / 2);
    requestAnimationFrame((t) => { frame.next = t; }); // the start of the next frame: this one has been presented
  }

  // A new view from the sliders (Gradio's change event hands their values over, app.py) or from the map
  function setView(z1, z2, span) {
    const s = app.state, t = performance.now();
    if (Number.isFinite(z1)) s.z1 = clampZ(z1);
    if (Number.isFinite(z2)) s.z2 = clampZ(z2);
    if (Number.isFinite(span) && span > 0) s.span = span;
    s.inputTime = t;
    app.stats.inputs.push({ t, z1: s.z1, z2: s.z2, span: s.span });
    if (app.stats.inputs.length > STATS_KEEP) app.stats.inputs.splice(0, STATS_KEEP / 2);
    request();
    settle();
  }

  // ------------------------------------------------------------------------------------------ interpolation
  // A path from A to B: PATH_STEPS digits decoded along it for the strip (t = linspace(0, 1, steps), as the server's
  // /interpolate), and an animation playing along it, PATH_FRAMES frames a loop, decoded as it plays.
  const PATH_STEPS = 10, PATH_FRAMES = 90;

  function setPath(a, b) {
    const box = document.querySelector("#vae-explore .vae-path");
    cancelAnimationFrame(app.path?.raf || 0);
    app.path = a && b ? { a, b, at: null, frame: 0, raf: 0 } : null;
    if (box) box.classList.toggle("vae-path-on", !!app.path);
    if (app.path && app.explore) {
      const root = document.querySelector("#vae-explore");
      const strip = root.querySelector("canvas.vae-strip"), movie = root.querySelector("canvas.vae-movie");
      const { a: [a1, a2], b: [b1, b2] } = app.path;
      root.querySelector(".vae-path-ends").textContent =
        `A = (${a1.toFixed(2)}, ${a2.toFixed(2)}) → B = (${b1.toFixed(2)}, ${b2.toFixed(2)})`;
      const points = pathPoints(a, b, PATH_STEPS);
      const pixels = app.bundle.decoder.decode(points, PATH_STEPS).slice();
      const ctx = setupCanvas(strip, PATH_STEPS * 56, 56), tile = document.createElement("canvas");
      tile.width = tile.height = SIDE;
      for (let i = 0; i < PATH_STEPS; i++) {
        greyToCanvas(pixels, i * SIDE * SIDE, SIDE, SIDE, tile);
        ctx.drawImage(tile, i * strip.width / PATH_STEPS, 0, strip.width / PATH_STEPS, strip.height);
      }
      root.dataset.strip = JSON.stringify({ a, b, pixels: Array.from(pixels) });
      const download = root.querySelector(".vae-strip-png");
      if (download) download.href = strip.toDataURL("image/png");
      app.path.movieCtx = setupCanvas(movie, 112, 112);
      app.path.tile = tile;
      app.path.raf = requestAnimationFrame(playPath);
    } else {
      delete document.querySelector("#vae-explore")?.dataset.strip;
    }
    app.painted = null; request(); settle();
  }

  // (steps * 2) float32 points (1 - t) a + t b, t = linspace(0, 1, steps): exactly a and b at the ends
  function pathPoints(a, b, steps) {
    const points = new Float32Array(steps * 2);
    for (let i = 0; i < steps; i++) {
      const t = i / (steps - 1);
      points[2 * i] = (1 - t) * a[0] + t * b[0]; points[2 * i + 1] = (1 - t) * a[1] + t * b[1];
    }
    return points;
  }

  function playPath(time) {
    const path = app.path;
    if (!path || !app.bundle) return;
    const t = (path.frame % PATH_FRAMES) / (PATH_FRAMES - 1);
    path.at = [(1 - t) * path.a[0] + t * path.b[0], (1 - t) * path.a[1] + t * path.b[1]];
    const pixels = app.bundle.decoder.decode(new Float32Array(path.at), 1);
    greyToCanvas(pixels, 0, SIDE, SIDE, path.tile);
    path.movieCtx.drawImage(path.tile, 0, 0, path.movieCtx.canvas.width, path.movieCtx.canvas.height);
    if (app.explore) app.explore.map.draw({ point: [app.state.z1, app.state.z2], window: app.state.span,
                                            prior: app.showPrior, path });
    app.stats.pathFrames.push(time);
    if (app.stats.pathFrames.length > STATS_KEEP) app.stats.pathFrames.splice(0, STATS_KEEP / 2);
    path.frame++;
    path.raf = requestAnimationFrame(playPath);
  }

  // ------------------------------------------------------------------------------------------ share and speak
  // Once a view has settled (no change for SETTLE_MS): the page's address holds it (tab, z1, z2, span, model; other
  // parameters such as Gradio's __theme are kept), without a new history entry per step; on a Hugging Face Space the
  // app runs in an iframe, so the Space's page is told too, as Spaces document (postMessage with queryString). And
  // the live line says where z is, for a screen reader (aria-live) and for everyone.
  const SETTLE_MS = 300;
  const NEARBY = 50; // test digits whose latent means are nearest z

  function settle() {
    clearTimeout(app.settleTimer);
    app.settleTimer = setTimeout(() => { writeAddress(); announce(); }, SETTLE_MS);
  }

  function writeAddress() {
    if (!app.share.ready) return; // not before the view in the address has been applied
    const s = app.state, params = new URLSearchParams(location.search);
    params.set("z1", s.z1.toFixed(2)); params.set("z2", s.z2.toFixed(2)); params.set("span", s.span.toFixed(2));
    if (app.share.model && app.share.model !== "default") params.set("model", app.share.model);
    else params.delete("model");
    if (app.share.tab && app.share.tab !== "explore") params.set("tab", app.share.tab); else params.delete("tab");
    for (const [key, value] of [["a1", app.path?.a[0]], ["a2", app.path?.a[1]], ["b1", app.path?.b[0]],
                                ["b2", app.path?.b[1]]]) {
      if (value === undefined) params.delete(key); else params.set(key, value.toFixed(2));
    }
    const query = `?${params.toString()}`;
    if (query === location.search) return;
    history.replaceState(history.state, "", query + location.hash);
    if (window.parent !== window) {
      window.parent.postMessage({ queryString: query, hash: location.hash }, "https://huggingface.co");
    }
  }

  // "z = (0.45, -1.20): mostly 7s nearby", from the test set's latent means nearest z
  function describePlace(z1, z2, latents) {
    const where = `z = (${z1.toFixed(2)}, ${z2.toFixed(2)})`;
    if (!latents) return `${where}: no latent map for this model`;
    const { mu, labels } = latents, n = labels.length, d = new Float64Array(n), order = new Uint32Array(n);
    for (let i = 0; i < n; i++) { d[i] = (mu[2 * i] - z1) ** 2 + (mu[2 * i + 1] - z2) ** 2; order[i] = i; }
    order.sort((a, b) => d[a] - d[b]);
    if (Math.sqrt(d[order[0]]) > 0.75) return `${where}: no test digits nearby; the decoder is guessing here`;
    const counts = new Array(10).fill(0), k = Math.min(NEARBY, n);
    for (let j = 0; j < k; j++) counts[labels[order[j]] % 10]++;
    const best = counts.indexOf(Math.max(...counts)), share = counts[best] / k;
    const word = share >= 0.8 ? "mostly" : share >= 0.5 ? "more than half" : "a mix, most often";
    return `${where}: ${word} ${best}s nearby`;
  }

  function announce() {
    const ex = app.explore;
    if (!ex || !app.bundle) return;
    const s = app.state, line = describePlace(s.z1, s.z2, app.bundle.latents);
    if (ex.live) ex.live.textContent = line;
    for (const el of document.querySelectorAll("#vae-explore .vae-x-z")) {
      el.textContent = `(${s.z1.toFixed(2)}, ${s.z2.toFixed(2)})`;
    }
    for (const el of document.querySelectorAll("#vae-explore .vae-x-place")) el.textContent = line;
    ex.digit.setAttribute("aria-label", `decoded digit at ${line}`);
    ex.grid.setAttribute("aria-label", `10 by 10 grid of decoded digits around z = (${s.z1.toFixed(2)}, ` +
                                       `${s.z2.toFixed(2)}), span ${s.span.toFixed(2)}`);
    ex.map.canvas.setAttribute("aria-label", `latent map at ${line}; arrow keys move z, click to move there, ` +
                                             "shift-click to set the end of a path");
  }

  // The Explore tab. props: bundle_path (the model; the server changes it when the visitor picks another), z1, z2,
  // span, digit_px, grid_px, map_px; trigger: gr.HTML's, to send a point picked on the map to the sliders (app.py
  // wires the component's change event to them); watch: gr.HTML's, to follow bundle_path
  function mountExplore(element, props, trigger, watch) {
    app.state.z1 = props.z1 ?? 0; app.state.z2 = props.z2 ?? 0; app.state.span = props.span ?? 1.5;
    const address = new URLSearchParams(location.search);
    app.share.model = address.get("model"); app.share.tab = address.get("tab");
    // a view sent to the sliders (app.py hands props.value to them through the component's change event)
    const sendToSliders = (z1, z2, span) => {
      setView(z1, z2, span);
      props.value = { z1: app.state.z1, z2: app.state.z2, span: app.state.span };
      trigger("change");
    };
    showStatus(element, "Loading the decoder…");
    const failed = (error) => {
      console.error(error);
      showStatus(element, `The in-browser decoder could not start (${error.message}). ` +
                          "The API endpoints still work.", true);
    };
    const shown = props.bundle_path;
    load(shown).then((bundle) => {
      app.bundle = bundle;
      app.shownModel = props.main_label || "default";
      const main = element.querySelector(".vae-main");
      const map = main.querySelector("canvas.vae-map");
      const ex = Object.assign(makePanel(main, bundle, props), {
        readout: element.querySelector(".vae-z"),
        spanReadout: element.querySelector(".vae-span-value"),
      });
      app.explore = ex;
      const backend = element.querySelector(".vae-backend");
      if (backend) backend.textContent = `decoded in your browser (${bundle.decoder.backend})`;
      app.stats.backend = bundle.decoder.backend;
      // click or drag on either map: paint there now, and move the sliders there
      const pickOn = (canvas, panel) => {
        let dragging = false;
        const moveTo = (event) => {
          const map = panel().map, r = canvas.getBoundingClientRect(), scale = map.cssSize / r.width; // CSS may shrink it
          const [z1, z2] = map.toLatent((event.clientX - r.left) * scale, (event.clientY - r.top) * scale);
          sendToSliders(snapZ(z1), snapZ(z2));
        };
        canvas.addEventListener("pointerdown", (e) => {
          if (e.shiftKey && panel() === app.explore) { // shift-click: B, with A the current z
            const map = panel().map, r = canvas.getBoundingClientRect(), scale = map.cssSize / r.width;
            const [b1, b2] = map.toLatent((e.clientX - r.left) * scale, (e.clientY - r.top) * scale);
            setPath([app.state.z1, app.state.z2], [snapZ(b1), snapZ(b2)]);
            return;
          }
          dragging = true; canvas.setPointerCapture(e.pointerId); moveTo(e);
        });
        canvas.addEventListener("pointermove", (e) => { if (dragging) moveTo(e); });
        canvas.addEventListener("pointerup", () => { dragging = false; });
        canvas.addEventListener("pointercancel", () => { dragging = false; });
      };
      pickOn(map, () => app.explore);
      // the keyboard: arrows move z by one slider step (Shift: ten)
      map.tabIndex = 0;
      map.addEventListener("keydown", (e) => {
        const step = (e.shiftKey ? 10 : 1) * Z_STEP, s = app.state;
        const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
        if (!moves[e.key]) return;
        e.preventDefault();
        sendToSliders(snapZ(s.z1 + moves[e.key][0]), snapZ(s.z2 + moves[e.key][1]));
      });
      ex.live = element.querySelector(".vae-live");
      const prior = element.querySelector(".vae-prior-toggle");
      if (prior) prior.addEventListener("change", () => { app.showPrior = prior.checked; app.painted = null; request(); });
      // the view in the page's address, once: ?z1=&z2=&span=
      const number = (key) => (address.has(key) && Number.isFinite(parseFloat(address.get(key)))
        ? parseFloat(address.get(key)) : undefined);
      const [az1, az2, aspan] = [number("z1"), number("z2"), number("span")];
      if (az1 !== undefined || az2 !== undefined || aspan !== undefined) {
        const span = aspan !== undefined && aspan > 0 && aspan <= SPAN_LIMIT ? aspan : app.state.span;
        sendToSliders(snapZ(az1 ?? app.state.z1), snapZ(az2 ?? app.state.z2), round2(span));
      }
      const [a1, a2, b1, b2] = ["a1", "a2", "b1", "b2"].map(number);
      if ([a1, a2, b1, b2].every((v) => v !== undefined)) setPath([snapZ(a1), snapZ(a2)], [snapZ(b1), snapZ(b2)]);
      const clearPath = element.querySelector(".vae-path-clear");
      if (clearPath) clearPath.addEventListener("click", () => setPath(null));
      app.share.ready = true;
      pickOn(element.querySelector(".vae-side canvas.vae-map"), () => app.compare);
      showStatus(element, "");
      element.dataset.ready = "true";
      element.dataset.bundle = shown;
      app.painted = null;
      request();
    }).catch(failed);
    // another model: its decoder and its latent map, same z
    if (watch) watch("bundle_path", () => {
      const path = props.bundle_path;
      showStatus(element, "Loading the model's decoder…");
      load(path).then((bundle) => {
        if (props.bundle_path !== path || !app.explore) return; // a later choice won
        app.bundle = bundle;
        app.shownModel = props.main_label || "default";
        app.share.model = props.main_label || app.share.model;
        settle();
        app.explore.map = new LatentMap(app.explore.map.canvas, element.querySelector(".vae-main .vae-legend"),
                                        bundle.latents, app.explore.map.cssSize);
        element.dataset.bundle = path;
        showStatus(element, "");
        app.painted = null;
        request();
      }).catch(failed);
    });
    // a second model beside the first, at the same z (compare_bundle_path: "" = none)
    const side = element.querySelector(".vae-side");
    const compareWith = (path) => {
      const box = element.querySelector(".vae-explore");
      if (!path) {
        app.compare = null;
        box.classList.remove("vae-comparing");
        element.dataset.compare = "";
        app.painted = null; request();
        return;
      }
      showStatus(element, "Loading the second model's decoder…");
      load(path).then((bundle) => {
        if (props.compare_bundle_path !== path || !app.explore) return;
        box.classList.add("vae-comparing");
        app.compare = makePanel(side, bundle, props, 0.75);
        side.querySelector(".vae-side-name").textContent = props.compare_label || "";
        element.querySelector(".vae-main-name").textContent = props.main_label || "";
        element.dataset.compare = path;
        showStatus(element, "");
        app.painted = null; request();
      }).catch(failed);
    };
    if (watch) watch("compare_bundle_path", () => compareWith(props.compare_bundle_path));
  }

  // The Reconstruct tab's drawing pad: black strokes on white, as a person draws on paper (the server's
  // preprocessing inverts and fits it as MNIST was made). At the end of each stroke the picture goes to the server
  // as a PNG data URL: props.value, then gr.HTML's change event (app.py). props: pad_px (CSS size), brush_px.
  function mountDrawing(element, props, trigger) {
    const pad = element.querySelector("canvas.vae-pad");
    const size = props.pad_px || 280;
    const ctx = setupCanvas(pad, size, size);
    ctx.setTransform(pad.width / size, 0, 0, pad.height / size, 0, 0);
    ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#000"; ctx.lineWidth = props.brush_px || 18;
    const clear = () => { ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, size, size); };
    clear();
    let last = null, drawn = false;
    const at = (e) => { const r = pad.getBoundingClientRect(); return [(e.clientX - r.left) * size / r.width,
                                                                        (e.clientY - r.top) * size / r.height]; };
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

  // The Reconstruct tab's map, for the model in props.bundle_path (followed with watch, as in Explore), and the
  // reparameterization trick shown: SAMPLES draws z = mu + sigma * eps, eps ~ N(0, I), decoded in the browser and
  // drawn on the map inside the ellipse; "resample eps" draws again (a seeded generator: the first draw of a digit is
  // the same every time)
  const SAMPLES = 12;

  function mountPosterior(element, props, watch) {
    const show = (path) => load(path).then((bundle) => {
      if (props.bundle_path !== path) return;
      const map = new LatentMap(element.querySelector("canvas.vae-map"), element.querySelector(".vae-legend"),
                                bundle.latents, props.map_px || 400);
      const strip = element.querySelector("canvas.vae-samples");
      app.posterior = { map, element, bundle, strip, stripCtx: setupCanvas(strip, SAMPLES * 48, 48), draw: 0 };
      drawPosterior();
      element.dataset.ready = "true";
    }).catch((error) => console.error(error));
    show(props.bundle_path);
    if (watch) watch("bundle_path", () => show(props.bundle_path));
    const resample = element.querySelector(".vae-resample");
    if (resample) resample.addEventListener("click", () => { if (app.posterior) { app.posterior.draw++; drawPosterior(); } });
  }

  function seededNormal(seed) { // mulberry32, then Box-Muller
    let a = seed >>> 0;
    const uniform = () => {
      a = (a + 0x6D2B79F5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  }

  function drawPosterior() {
    const post = app.posterior, ellipse = app.pendingPosterior;
    if (!post) return;
    let samples = [];
    const ctx = post.stripCtx, w = post.strip.width, h = post.strip.height;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, w, h);
    if (ellipse) {
      const normal = seededNormal(1 + post.draw);
      const eps = Array.from({ length: SAMPLES }, () => [normal(), normal()]);
      samples = eps.map(([e1, e2]) => [ellipse.mu[0] + ellipse.sigma[0] * e1, ellipse.mu[1] + ellipse.sigma[1] * e2]);
      const points = new Float32Array(SAMPLES * 2);
      samples.forEach(([a, b], i) => { points[2 * i] = a; points[2 * i + 1] = b; });
      const pixels = post.bundle.decoder.decode(points, SAMPLES), n = SIDE * SIDE, cell = w / SAMPLES;
      const tile = Object.assign(document.createElement("canvas"), { width: SIDE, height: SIDE });
      ctx.imageSmoothingEnabled = false;
      for (let i = 0; i < SAMPLES; i++) {
        greyToCanvas(pixels, i * n, SIDE, SIDE, tile);
        ctx.drawImage(tile, i * cell, 0, cell - 2, h);
      }
      post.element.dataset.samples = JSON.stringify({ eps, z: samples, pixels: Array.from(pixels.subarray(0, SAMPLES * n)) });
    } else {
      post.element.dataset.samples = "";
    }
    post.map.draw({ ellipse: ellipse || undefined, samples });
    post.element.dataset.posterior = ellipse ? JSON.stringify(ellipse) : "";
    for (const [cls, text] of [["vae-x-mu", ellipse ? `(${ellipse.mu.map((v) => v.toFixed(2)).join(", ")})` : "μ"],
                               ["vae-x-sigma", ellipse ? `(${ellipse.sigma.map((v) => v.toFixed(3)).join(", ")})` : "σ"]]) {
      for (const el of post.element.querySelectorAll(`.${cls}`)) el.textContent = text;
    }
  }

  function showPosterior(stats) {
    const ellipse = stats && stats.mu && stats.sigma ? { mu: stats.mu, sigma: stats.sigma } : null;
    app.pendingPosterior = ellipse;
    for (const key of ["elbo", "bce", "kl"]) { // the explanation's live figures
      const value = stats && Number.isFinite(stats[key]) ? stats[key].toFixed(1) : "…";
      for (const el of document.querySelectorAll(`#vae-posterior .vae-x-${key}`)) el.textContent = value;
    }
    if (app.posterior) { app.posterior.draw = 0; drawPosterior(); }
  }

  // z ~ N(0, I) by Box-Muller, clipped to the sliders' range, 2 decimals
  function randomLatent() {
    const normal = () => {
      const u = 1 - Math.random(), v = Math.random();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    };
    return [round2(clampZ(normal())), round2(clampZ(normal()))];
  }

  // ------------------------------------------------------------------------------------------ the training replay
  // The Training tab replays how the latent space formed. webapp/replay.py's bundle holds the snapshots the trainer
  // took at log-spaced moments (vae/snapshots.py): each one's decoder weights (int8 with a float32 scale per row and
  // group of columns, float16 or float32), the posterior means of 2,000 fixed test digits, its step and its -ELBO.
  // Each snapshot gets a Decoder of its own (the same program, that snapshot's weights) and a cell cache of its own,
  // so any snapshot's grid is decoded here and scrubbing back over a snapshot re-uses its cells. The tab's position
  // is a real number in [0, snapshots - 1]: the map moves every digit's point between the two snapshots either side
  // of it (eased, so the points come to rest at each snapshot); the grid, the digit and the curve's dots show the
  // nearest snapshot, decoded when that changes.
  const REPLAY_FORMAT = "vae-explorer-replay/1"; // webapp/replay.py's FORMAT
  const PLAY_SECONDS = 1.2; // per snapshot while playing
  const SNAP_SPEED = 6; // snapshots per second: the glide to the nearest snapshot when the scrubber is let go
  const REPLAY_CACHE_LIMIT = 4000; // decoded cells kept per snapshot (3 MB)
  const REPLAYS_KEPT = 2; // replays kept loaded (the bundled default's 13 decoders take about 60 MB)
  const CURVE_HEIGHT = 200; // CSS px of the -ELBO curve; its width is the grid's
  const CURVE_COLOURS = { train: "#1f77b4", test: "#d62728" }; // the caption's key in page.css uses the same

  // Snapshot k's float32 weights {name: {shape, dtype, data}} from its stored tensors, as vae/snapshots.py's
  // decode_tensor computes them for the server: int8 w[r][c] = q[r][c] * scale[r][floor(c / g)], g = ceil(cols /
  // groups), one float32 product (exact in float64, then rounded once by the Float32Array: numpy's float32 product);
  // float16 widened exactly by readSafetensors; float32 as stored
  function snapshotWeights(tensors, k, encodings) {
    const weights = {}, dtypes = { int8: "I8", float16: "F16", float32: "F32" };
    for (const [name, encoding] of Object.entries(encodings)) {
      const t = tensors[`s${k}.${name}`];
      if (!t) throw new Error(`the replay has no tensor s${k}.${name}`);
      if (t.dtype !== dtypes[encoding]) throw new Error(`s${k}.${name} is ${t.dtype}; its record says ${encoding}`);
      if (encoding !== "int8") { weights[name] = t; continue; }
      const s = tensors[`s${k}.${name}.scale`], [rows, cols] = t.shape;
      if (!s || s.dtype !== "F32" || s.shape[0] !== rows) throw new Error(`s${k}.${name} has no matching scales`);
      const groups = s.shape[1], g = Math.ceil(cols / groups), q = t.data, scale = s.data;
      const w = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) w[r * cols + c] = q[r * cols + c] * scale[r * groups + Math.floor(c / g)];
      }
      weights[name] = { shape: t.shape, dtype: "F32", data: w };
    }
    return weights;
  }

  // A replay bundle -> Promise of {records, labels, count, snapshots: [{record, mu (N * 2), view: {decoder, cache,
  // limit}}]}, fetched once per path while among the REPLAYS_KEPT latest; a failure is forgotten
  function loadReplay(path) {
    if (app.replays.has(path)) { // the latest again
      const kept = app.replays.get(path);
      app.replays.delete(path);
      app.replays.set(path, kept);
    } else {
      const loading = fetchSafetensors(path, REPLAY_FORMAT)
        .then(({ metadata, tensors }) => {
          const records = JSON.parse(metadata.records), program = JSON.parse(metadata.program);
          const input = JSON.parse(metadata.input), output = JSON.parse(metadata.output);
          const labels = tensors.labels ? tensors.labels.data : null;
          if (!labels || !records.length) throw new Error("the replay holds no test digits or no snapshots");
          const snapshots = records.map((record, k) => {
            const mu = tensors[`s${k}.mu`];
            if (!mu || mu.data.length !== 2 * labels.length) {
              throw new Error(`snapshot ${k}'s latent means do not match the ${labels.length} test digits`);
            }
            const decoder = new Decoder(program, snapshotWeights(tensors, k, record.encodings), input, output);
            return { record, mu: mu.data, view: { decoder, cache: new Map(), limit: REPLAY_CACHE_LIMIT } };
          });
          return { records, labels, snapshots, count: snapshots.length };
        });
      loading.catch(() => { if (app.replays.get(path) === loading) app.replays.delete(path); });
      app.replays.set(path, loading);
      for (const old of app.replays.keys()) { // the oldest first
        if (app.replays.size > REPLAYS_KEPT) app.replays.delete(old);
      }
    }
    return app.replays.get(path);
  }

  // 1, 2 or 5 times a power of ten, at least `raw`: the spacing of an axis's ticks
  function niceStep(raw) {
    const p = 10 ** Math.floor(Math.log10(raw));
    return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
  }

  // The -ELBO curve: every snapshot's train and test -ELBO against its step, on a log axis (log10(1 + step), so
  // step 0 has a place), in the page's theme; draw(pos) adds a line at the position and rings the nearest snapshot
  class ElboCurve {
    constructor(canvas, records, cssWidth, cssHeight) {
      this.canvas = canvas;
      this.records = records;
      this.cssWidth = cssWidth;
      this.cssHeight = cssHeight;
      this.margin = { left: 48, right: 12, top: 10, bottom: 32 };
      this.ctx = setupCanvas(canvas, cssWidth, cssHeight);
      this.dpr = canvas.width / cssWidth;
      const values = records.flatMap((r) => [r.train_elbo, r.test_elbo]).filter(Number.isFinite);
      let lo = values.length ? Math.min(...values) : 0, hi = values.length ? Math.max(...values) : 1;
      if (hi - lo < 1e-6) { lo -= 1; hi += 1; }
      this.yStep = niceStep((hi - lo) / 4);
      this.yLow = Math.floor(lo / this.yStep) * this.yStep;
      this.yHigh = Math.ceil(hi / this.yStep) * this.yStep;
      this.xHigh = Math.log10(1 + Math.max(10, records[records.length - 1].step));
      this.restyle();
      maps.add(this);
    }

    toX(step) {
      const m = this.margin;
      return m.left + (Math.log10(1 + step) / this.xHigh) * (this.cssWidth - m.left - m.right);
    }

    toY(value) {
      const m = this.margin, h = this.cssHeight - m.top - m.bottom;
      return m.top + ((this.yHigh - value) / (this.yHigh - this.yLow)) * h;
    }

    // where position `pos` lies on the step axis: between its two snapshots, in proportion on the log axis
    posX(pos) {
      const n = this.records.length, i = Math.min(Math.floor(pos), n - 1), u = pos - i;
      const x = this.toX(this.records[i].step);
      return i + 1 < n ? x + u * (this.toX(this.records[i + 1].step) - x) : x;
    }

    restyle() {
      const css = getComputedStyle(this.canvas);
      this.colours = {
        background: css.getPropertyValue("--body-background-fill").trim() || "#ffffff",
        ink: css.getPropertyValue("--body-text-color").trim() || "#333333",
      };
      this.base = this.drawBase();
    }

    drawBase() {
      const base = document.createElement("canvas");
      base.width = this.canvas.width;
      base.height = this.canvas.height;
      const ctx = base.getContext("2d"), m = this.margin, W = this.cssWidth, H = this.cssHeight;
      const { background, ink } = this.colours;
      ctx.scale(this.dpr, this.dpr);
      ctx.fillStyle = background; ctx.fillRect(0, 0, W, H);
      const x0 = m.left, x1 = W - m.right, y0 = m.top, y1 = H - m.bottom;
      ctx.strokeStyle = ink; ctx.fillStyle = ink; ctx.lineWidth = 1; ctx.font = "11px sans-serif";
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      ctx.textAlign = "center"; ctx.textBaseline = "top";
      const names = ["0", "10", "100", "1k", "10k", "100k", "1M"];
      for (let e = 0; e < names.length && (e === 0 || Math.log10(1 + 10 ** e) <= this.xHigh + 1e-9); e++) {
        const x = this.toX(e === 0 ? 0 : 10 ** e); // step 0, then the powers of ten
        ctx.beginPath(); ctx.moveTo(x, y1); ctx.lineTo(x, y1 + 4); ctx.stroke();
        ctx.fillText(names[e], x, y1 + 5);
      }
      ctx.textBaseline = "bottom"; ctx.fillText("Adam steps (log scale)", (x0 + x1) / 2, H - 1);
      ctx.textAlign = "right"; ctx.textBaseline = "middle";
      for (let v = this.yLow; v <= this.yHigh + 1e-9; v += this.yStep) {
        const y = this.toY(v);
        ctx.beginPath(); ctx.moveTo(x0 - 4, y); ctx.lineTo(x0, y); ctx.stroke();
        ctx.fillText(String(Math.round(v * 100) / 100), x0 - 6, y);
      }
      ctx.save(); ctx.translate(10, (y0 + y1) / 2); ctx.rotate(-Math.PI / 2);
      ctx.textAlign = "center"; ctx.fillText("−ELBO", 0, 0); ctx.restore();
      // test solid, then train dashed on top: the two nearly coincide, and both stay visible
      for (const [key, colour, dash] of [["test_elbo", CURVE_COLOURS.test, []],
                                         ["train_elbo", CURVE_COLOURS.train, [5, 4]]]) {
        const points = this.records.filter((r) => Number.isFinite(r[key]))
          .map((r) => [this.toX(r.step), this.toY(r[key])]);
        ctx.strokeStyle = colour; ctx.fillStyle = colour; ctx.lineWidth = 1.5; ctx.setLineDash(dash);
        ctx.beginPath();
        points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
        ctx.stroke();
        ctx.setLineDash([]);
        for (const [x, y] of points) { ctx.beginPath(); ctx.arc(x, y, 2.5, 0, 2 * Math.PI); ctx.fill(); }
      }
      return base;
    }

    draw(pos) {
      const ctx = this.ctx, m = this.margin, k = Math.round(pos), r = this.records[k];
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.drawImage(this.base, 0, 0);
      ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
      const x = this.posX(pos);
      ctx.strokeStyle = this.colours.ink; ctx.lineWidth = 1.5; ctx.setLineDash([3, 3]);
      ctx.beginPath(); ctx.moveTo(x, m.top); ctx.lineTo(x, this.cssHeight - m.bottom); ctx.stroke();
      ctx.setLineDash([]);
      for (const [key, colour] of [["train_elbo", CURVE_COLOURS.train], ["test_elbo", CURVE_COLOURS.test]]) {
        if (!Number.isFinite(r[key])) continue;
        ctx.beginPath(); ctx.arc(this.toX(r.step), this.toY(r[key]), 5, 0, 2 * Math.PI);
        ctx.fillStyle = colour; ctx.fill(); ctx.strokeStyle = this.colours.background; ctx.lineWidth = 2; ctx.stroke();
      }
    }
  }

  // The Training tab. props: replay_path (the replay bundle, "" when the model has none; the server changes it when
  // the visitor picks another model), replay_message (what the tab says instead), z1, z2, span, digit_px, grid_px,
  // map_px; trigger: gr.HTML's, to send a point picked on the map to the tab's sliders (app.py wires the component's
  // change event to them); watch: gr.HTML's, to follow replay_path. Nothing is fetched before the tab is shown.
  function mountTraining(element, props, trigger, watch) {
    if (app.training) cancelAnimationFrame(app.training.raf);
    const tr = {
      element, props,
      path: null, // the replay shown or on its way ("": the model has none)
      replay: null, // loadReplay's, once shown
      opened: false, // the tab has been shown
      pos: 0, // the position in [0, count - 1]
      target: null, speed: 0, tick: null, // a glide towards `target` at `speed` snapshots/s (playing is one)
      playing: false, raf: 0, painted: null,
      view: { z1: props.z1 ?? 0, z2: props.z2 ?? 0, span: props.span ?? 1.5 },
      cells: makeCells(element, props),
      mapCanvas: element.querySelector("canvas.vae-map"), map: null, curve: null, mixed: null,
      scrub: element.querySelector(".vae-scrub"), play: element.querySelector(".vae-play"),
      when: element.querySelector(".vae-train-when"),
    };
    app.training = tr;
    tr.play.addEventListener("click", () => (tr.playing ? pauseTraining() : playTraining()));
    // the scrubber: dragged, the points follow it between snapshots; let go, they glide to the nearest snapshot
    tr.scrub.addEventListener("input", () => {
      pauseTraining();
      tr.pos = parseFloat(tr.scrub.value);
      requestTraining();
    });
    tr.scrub.addEventListener("change", () => glideTo(Math.round(tr.pos), SNAP_SPEED));
    tr.scrub.addEventListener("keydown", (e) => { // one snapshot per key, not the range's 0.01
      const k = Math.round(tr.pos), last = tr.replay ? tr.replay.count - 1 : 0;
      const to = { ArrowLeft: k - 1, ArrowDown: k - 1, ArrowRight: k + 1, ArrowUp: k + 1, Home: 0, End: last }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      setSnapshot(Math.max(0, Math.min(last, to)));
    });
    // click or drag on the map, or the arrow keys on it: z moves there, and the tab's sliders follow
    const sendToSliders = (z1, z2) => {
      setTrainingView(z1, z2);
      props.value = { ...tr.view };
      trigger("change");
    };
    let dragging = false;
    const moveTo = (e) => {
      if (!tr.map) return;
      const r = tr.mapCanvas.getBoundingClientRect(), scale = tr.map.cssSize / r.width; // CSS may shrink it
      const [z1, z2] = tr.map.toLatent((e.clientX - r.left) * scale, (e.clientY - r.top) * scale);
      sendToSliders(snapZ(z1), snapZ(z2));
    };
    tr.mapCanvas.addEventListener("pointerdown", (e) => {
      dragging = true; tr.mapCanvas.setPointerCapture(e.pointerId); moveTo(e);
    });
    tr.mapCanvas.addEventListener("pointermove", (e) => { if (dragging) moveTo(e); });
    tr.mapCanvas.addEventListener("pointerup", () => { dragging = false; });
    tr.mapCanvas.addEventListener("pointercancel", () => { dragging = false; });
    tr.mapCanvas.tabIndex = 0;
    tr.mapCanvas.addEventListener("keydown", (e) => {
      const step = (e.shiftKey ? 10 : 1) * Z_STEP, v = tr.view;
      const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
      if (!moves[e.key]) return;
      e.preventDefault();
      sendToSliders(snapZ(v.z1 + moves[e.key][0]), snapZ(v.z2 + moves[e.key][1]));
    });
    // another model: if the tab has been shown, its replay now; else when the tab is shown
    if (watch) {
      watch("replay_path", () => { if (tr.opened) openTraining(); });
      watch("replay_message", () => { if (tr.opened) openTraining(); });
    }
    // Gradio mounts a tab's content when the tab is first shown, and hides it (no size) when another is chosen. The
    // tab's select event opens it (setTab); so does the element getting a size, for a tab chosen by ?tab=training,
    // which sends no select event.
    new ResizeObserver(() => { if (app.training === tr && element.offsetWidth > 0) openTraining(); }).observe(element);
    if (app.share.tab === "training") openTraining();
  }

  // Show the replay in props.replay_path (fetched now, once), or props.replay_message when there is none
  function openTraining() {
    const tr = app.training;
    if (!tr) return;
    tr.opened = true;
    const path = tr.props.replay_path || "", element = tr.element;
    if (path && path === tr.path) return; // shown already, or on its way
    pauseTraining();
    tr.path = path;
    tr.replay = null;
    element.querySelector(".vae-training").classList.remove("vae-train-ready");
    element.dataset.replay = path;
    if (!path) {
      element.dataset.state = "none";
      showStatus(element, tr.props.replay_message || "This model has no training replay.", !!tr.props.replay_error);
      return;
    }
    element.dataset.state = "loading";
    showStatus(element, "Loading the training replay…");
    loadReplay(path).then((replay) => {
      if (tr.path !== path || app.training !== tr) return; // another model was chosen meanwhile
      showReplay(tr, replay);
    }).catch((error) => {
      if (tr.path !== path) return;
      console.error(error);
      element.dataset.state = "error";
      showStatus(element, `The training replay could not be shown (${error.message}). The other tabs still work.`,
                 true);
    });
  }

  function showReplay(tr, replay) {
    const props = tr.props, last = replay.snapshots[replay.count - 1];
    if (tr.map) maps.delete(tr.map);
    if (tr.curve) maps.delete(tr.curve);
    // the axes fit the final snapshot's spread, as the server's replay GIF does (webapp/replay.py's map_limit)
    tr.map = new LatentMap(tr.mapCanvas, tr.element.querySelector(".vae-legend"),
                           { mu: last.mu, labels: replay.labels }, props.map_px || 380, true);
    tr.curve = new ElboCurve(tr.element.querySelector("canvas.vae-curve"), replay.records, props.grid_px || 560,
                             CURVE_HEIGHT);
    tr.replay = replay;
    tr.mixed = new Float32Array(2 * replay.labels.length);
    tr.pos = Math.min(tr.pos, replay.count - 1); // a new model: the same moment, if it has one
    tr.scrub.max = String(replay.count - 1);
    tr.painted = null;
    showStatus(tr.element, "");
    tr.element.querySelector(".vae-training").classList.add("vae-train-ready"); // page.css shows the body
    tr.element.dataset.state = "ready";
    requestTraining();
  }

  function showPlaying(tr) {
    tr.play.textContent = tr.playing ? "❚❚ pause" : "▶ play";
    tr.play.setAttribute("aria-label", tr.playing ? "pause the replay" : "play the replay");
    tr.element.dataset.playing = String(tr.playing);
  }

  // Play from here (from the start when at the end) to the last snapshot, PLAY_SECONDS per snapshot
  function playTraining() {
    const tr = app.training;
    if (!tr || !tr.replay) return false;
    const last = tr.replay.count - 1;
    if (tr.pos >= last) tr.pos = 0;
    glideTo(last, 1 / PLAY_SECONDS);
    tr.playing = true;
    showPlaying(tr);
    return true;
  }

  function pauseTraining() {
    const tr = app.training;
    if (!tr) return;
    tr.target = null;
    tr.tick = null;
    if (tr.playing) { tr.playing = false; showPlaying(tr); }
  }

  function glideTo(target, speed) {
    const tr = app.training;
    if (!tr || !tr.replay) return;
    tr.target = target; tr.speed = speed; tr.tick = null;
    requestTraining();
  }

  // Show snapshot k at once (negative: counted from the end) -> the snapshot shown, or null before the replay
  function setSnapshot(k) {
    const tr = app.training;
    if (!tr || !tr.replay) return null;
    const n = tr.replay.count;
    k = Math.round(k);
    k = Math.max(0, Math.min(n - 1, k < 0 ? k + n : k));
    pauseTraining();
    tr.pos = k;
    requestTraining();
    return k;
  }

  // A new view from the tab's sliders (app.py hands their values over) or from its map
  function setTrainingView(z1, z2, span) {
    const tr = app.training;
    if (!tr) return;
    const v = tr.view;
    if (Number.isFinite(z1)) v.z1 = clampZ(z1);
    if (Number.isFinite(z2)) v.z2 = clampZ(z2);
    if (Number.isFinite(span) && span > 0) v.span = span;
    requestTraining();
  }

  function requestTraining() {
    const tr = app.training;
    if (tr && !tr.raf) tr.raf = requestAnimationFrame(paintTraining);
  }

  // the test digits' points at position pos: between snapshots i and i + 1, eased (smoothstep), so that while
  // playing they slow down into each snapshot and set off again
  function mixLatents(tr, pos) {
    const snaps = tr.replay.snapshots, i = Math.min(Math.floor(pos), snaps.length - 1), u = pos - i;
    const a = snaps[i].mu;
    if (u <= 0 || i + 1 >= snaps.length) return a;
    const b = snaps[i + 1].mu, e = u * u * (3 - 2 * u), out = tr.mixed;
    for (let j = 0; j < a.length; j++) out[j] = a[j] + e * (b[j] - a[j]);
    return out;
  }

  // Once per display frame while anything moves: the position's points on the map and the curve's marker; the
  // nearest snapshot's digit and grid when the snapshot or the view changed
  function paintTraining(frameStart) {
    const tr = app.training;
    tr.raf = 0;
    if (!tr.replay) return;
    if (tr.target !== null) { // playing, or gliding to a snapshot
      const dt = tr.tick === null ? 0 : Math.min(0.1, (frameStart - tr.tick) / 1000); // a stall does not jump
      tr.tick = frameStart;
      const gap = tr.target - tr.pos, step = tr.speed * dt;
      tr.pos = Math.abs(gap) <= step ? tr.target : tr.pos + Math.sign(gap) * step;
      if (tr.pos === tr.target) pauseTraining(); else requestTraining();
    }
    const v = tr.view, pos = tr.pos, k = Math.round(pos), p = tr.painted, replay = tr.replay;
    if (p && p.pos === pos && p.z1 === v.z1 && p.z2 === v.z2 && p.span === v.span) return;
    const t0 = performance.now();
    let decoded = null;
    if (!p || p.k !== k || p.z1 !== v.z1 || p.z2 !== v.z2 || p.span !== v.span) {
      const cells = decodeCached(replay.snapshots[k].view, viewPoints(v.z1, v.z2, v.span), ROWS);
      decoded = cells.decoded;
      paintCells(tr.cells, cells.pixels);
      const r = replay.records[k], elbo = (x) => (Number.isFinite(x) ? x.toFixed(1) : "–");
      tr.when.textContent = `snapshot ${k + 1} of ${replay.count}: step ${r.step.toLocaleString("en")} (epoch ` +
        `${r.epoch.toFixed(2)}), −ELBO train ${elbo(r.train_elbo)}, test ${elbo(r.test_elbo)} nats`;
      const z = `(${v.z1.toFixed(2)}, ${v.z2.toFixed(2)})`;
      for (const el of tr.element.querySelectorAll(".vae-train-z")) el.textContent = `z = ${z}`;
      for (const el of tr.element.querySelectorAll(".vae-train-span")) el.textContent = v.span.toFixed(2);
      tr.cells.digit.setAttribute("aria-label", `the digit at z = ${z} decoded by snapshot ${k + 1} (step ${r.step})`);
      tr.cells.grid.setAttribute("aria-label", `10 by 10 grid around z = ${z}, span ${v.span.toFixed(2)}, decoded ` +
                                               `by snapshot ${k + 1} (step ${r.step})`);
    }
    const t1 = performance.now();
    tr.map.draw({ cloud: { mu: mixLatents(tr, pos), labels: replay.labels }, point: [v.z1, v.z2], window: v.span });
    tr.curve.draw(pos);
    if (tr.scrub.value !== String(pos)) tr.scrub.value = String(pos);
    tr.painted = { pos, k, z1: v.z1, z2: v.z2, span: v.span };
    const frame = { pos, k, z1: v.z1, z2: v.z2, span: v.span, frameStart, drawn: performance.now(),
                    decodeMs: decoded === null ? null : t1 - t0, decoded };
    app.stats.trainingFrames.push(frame);
    if (app.stats.trainingFrames.length > STATS_KEEP) app.stats.trainingFrames.splice(0, STATS_KEEP / 2);
  }

  window.vaeExplorer = {
    mountExplore, mountPosterior, mountDrawing, mountTraining, setView, setTrainingView, showPosterior, randomLatent,
    // the tab shown (app.py's Tab.select events), kept in the address; the Training tab loads its replay when first
    // shown, and stops playing when left
    setTab(tab) {
      app.share.tab = tab;
      settle();
      if (tab === "training") openTraining(); else pauseTraining();
    },
    // the "Copy link" button: the address of this view
    copyLink() {
      writeAddress();
      const link = location.href;
      if (navigator.clipboard) navigator.clipboard.writeText(link).catch(() => {});
      return link;
    },
    // for tests: the pixels the page paints for a view, uint8 (101, 784): the digit, then the grid's cells; of the
    // compared model with second = true
    decodeView: (z1, z2, span, second) => Array.from(decodeView(z1, z2, span, second ? app.compare.bundle : app.bundle)),
    get stats() { return app.stats; },
    get state() { return { ...app.state }; },
    // for tests: where the latent point (z1, z2) is on the Explore tab's map, in client (viewport) pixels
    mapPoint(z1, z2) {
      const map = app.explore.map, r = map.canvas.getBoundingClientRect(), scale = r.width / map.cssSize;
      const [x, y] = map.toPixel(z1, z2);
      return { x: r.left + x * scale, y: r.top + y * scale };
    },
    get backend() { return app.bundle ? app.bundle.decoder.backend : null; },
    // the cell cache: setCache(false) makes every frame decode all 101 points (bench/browser_fps.py measures both)
    setCache(enabled) { cacheState.enabled = !!enabled; if (app.bundle) app.bundle.cache.clear(); },
    get cache() { return { ...cacheState, size: app.bundle ? app.bundle.cache.size : 0 }; },
    get ready() { return !!app.explore; },
    get comparing() { return !!app.compare; },
    // the name of the model whose decoder the Explore tab is using now
    get model() { return app.shownModel || null; },
    // the path's ends for the server's GIF (app.py's "GIF of the path" button): [a1, a2, b1, b2], or nulls
    pathEnds() { return app.path ? [...app.path.a, ...app.path.b] : [null, null, null, null]; },
    setPath,
    // the Training tab: setSnapshot(k) shows snapshot k (negative: from the end), playTraining() plays to the end
    setSnapshot, playTraining, pauseTraining,
    get training() {
      const tr = app.training, replay = tr && tr.replay;
      return { ready: !!replay, opened: !!(tr && tr.opened), count: replay ? replay.count : 0,
               snapshot: replay ? Math.round(tr.pos) : null, position: tr ? tr.pos : null,
               playing: !!(tr && tr.playing), path: tr ? tr.path : null, view: tr ? { ...tr.view } : null };
    },
    // for tests: where the latent point (z1, z2) is on the Training tab's map, in client (viewport) pixels
    trainingMapPoint(z1, z2) {
      const map = app.training.map, r = map.canvas.getBoundingClientRect(), scale = r.width / map.cssSize;
      const [x, y] = map.toPixel(z1, z2);
      return { x: r.left + x * scale, y: r.top + y * scale };
    },
    // for tests: the pixels snapshot k's decoder gives for a view, as the tab paints them, uint8 (101, 784)
    decodeTraining(z1, z2, span, k) {
      const replay = app.training.replay, i = k < 0 ? k + replay.count : k;
      return Array.from(decodeCached(replay.snapshots[i].view, viewPoints(z1, z2, span), ROWS).pixels);
    },
    // for tests: a safetensors file's tensors as this page reads them (F16 widened, I8, I32)
    readSafetensors,
  };
})();
