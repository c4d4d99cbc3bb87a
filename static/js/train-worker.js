// The Train tab's Web Worker (a module worker): runs the page's trainer (core/trainer.js) off the page's thread, so
// the page keeps painting while it trains, and posts what the tab shows at display rate.
//
// page -> worker   {type: "start", program, data (URLs), settings}   fetch both, build the trainer, then "ready"
//                                                                    (once the data's first chunks are in: below)
//                  {type: "run"} {type: "pause"} {type: "step"}     train on, stop after this slice, one step
//                  {type: "beta", beta}                              the KL weight from the next step on
//                  {type: "view", z1, z2, span, grid}                the digit and grid the tab shows
//                  {type: "weights"}                                 the current weights, for Download model
//                  {type: "test", count, images}                     the test figure on `count` images (bench/)
// worker -> page   {type: "ready", labels, classNames, dataset, n, arrived, stepsPerEpoch, totalSteps, dataFrom}
//                  {type: "kept"}                                    the training data is now kept in Cache Storage
//                  {type: "progress", ...}                           see progress() below (exact: the exact figures)
//                  {type: "stopped", reason, message}               finished or diverged (nothing more is drawn)
//                  {type: "weights", bytes, step}                    model.safetensors (VAE.from_pretrained's)
//                  {type: "test", step, elbo, bce, kl, images}       the answer to "test"
//                  {type: "error", message}                          anything that went wrong here

import { viewPoints } from "./core/cellcache.js";
import { LikelihoodSample } from "./core/exact.js";
import { wasmKernel, javascriptKernel } from "./core/kernels.js";
import { checkFormat, readSafetensors, writeSafetensors } from "./core/safetensors.js";
import { TRAINING_FORMAT } from "./core/engine.js";
import { MAP_POINTS, Trainer } from "./core/trainer.js";
import { forgetTrainingData, openTrainingData, receiveTrainingData } from "./core/trainingdata.js";

// A slice ends, and progress is posted, about once per display frame (or after each step, where a step takes longer),
// so the tab paints the curve and the readout at display rate (bench/browser_training.py counts it); the digit and
// grid cost a decoder pass over 101 points (a quarter of a step of the quick preset), so they are decoded at most
// every VIEW_MS, or at once when z moves
const SLICE_MS = 16; // training between looks at the page's messages
const FRAME_MS = 16; // progress at most this often (about 60 per second)
const VIEW_MS = 33; // the decoded digit and grid at most this often (about 30 per second)
const MEANS_MS = 250; // the map's 2,000 posterior means at most this often (an encoder pass over them)
const TEST_EVERY = 200; // steps between test figures
// steps between exact figures: -log p(x) of the first EXACT_IMAGES test images by quadrature (core/exact.js), beside
// their -ELBO. One cost 0.5 to 1.1 s for the quick preset's model in Chromium on 2 busy cores (0.75 s under Node,
// where a step took 13 ms: 60 steps' worth), so every 600 steps is at most a tenth of the training time (2 to 4% in
// those Chromium runs, 24 steps/s); the cost and a step's both grow with the model (tests/test_browser_train.py
// prints both). A multiple of TEST_EVERY, so the curve has a test -ELBO at each exact figure's step
const EXACT_EVERY = 600;
const EXACT_IMAGES = 200;

// All the worker's mutable state: the handlers below, the slices and the data's arrival read and change it here
const session = {
  trainer: null, // built by "start"
  running: false, // slices follow one another until a pause, a stop or an error
  pending: false, // a slice is scheduled and has not run yet
  dataFailed: false, // the rest of the training data turned out damaged: nothing more is trained
  view: null, // the tab's last "view": the digit and grid to decode
  viewMoved: false, // z moved since the view was last decoded: decode it at the next post, whatever VIEW_MS says
  lastFrame: 0, lastView: 0, lastMeans: 0, // performance.now() of the last progress, decoded view and map's means
  losses: [], tests: [], exact: [], // the running losses per step, the test and exact figures since the last progress
  kernel: null, sample: null, lastExact: -1, // the trainer's matrix products, and the exact figure's images (core/exact.js)
  seen: { images: 0, since: 0 }, // images trained on since performance.now() was `since`, for imagesPerSecond
  imagesPerSecond: 0,
};

async function fetchBuffer(url) {
  const response = await fetch(url, { cache: "force-cache" });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

// The training data (webapp/training_data.py's file): the copy Cache Storage kept from an earlier start, else the
// network's. The network's is read as it streams: training starts once the test images and the first training chunk
// are in, on the images that have arrived (core/trainer.js says how), so the first step does not wait for the whole
// file. A kept copy is read whole first (a fraction of a second), so a run from it is the same for the same seed.
// A kept copy that does not read is dropped, so the next start fetches it again; a damaged rest stops training.
// -> {data, from: "kept copy" (Cache Storage) or "network"}; "kept" is posted once Cache Storage holds all of it
async function loadData(url) {
  const { response, fromCache, kept } = await openTrainingData(url);
  kept.then((stored) => { if (stored) postMessage({ type: "kept" }); });
  const dropKept = async (error) => {
    if (fromCache) await forgetTrainingData(url);
    throw error;
  };
  const { data, complete } = await receiveTrainingData(response.body).catch(dropKept);
  const whole = complete.catch(dropKept);
  if (fromCache) await whole;
  whole.then(() => { if (session.trainer && !session.running) progress(true); }, (error) => {
    session.dataFailed = true;
    session.running = false;
    postMessage({ type: "error", message: error.message || String(error) });
  });
  return { data, from: fromCache ? "kept copy" : "network" };
}

async function start({ program, data, settings }) {
  const wasmURL = new URL("../linear.wasm", import.meta.url);
  const [programBuffer, { data: dataBuffer, from: dataFrom }, wasm] = await Promise.all([
    fetchBuffer(program), loadData(data),
    fetchBuffer(wasmURL).then((b) => new WebAssembly.Module(b)).catch(() => null), // no SIMD: JavaScript loops
  ]);
  const file = checkFormat(readSafetensors(programBuffer), TRAINING_FORMAT, program);
  if (session.dataFailed) return; // said already
  const kernel = wasm ? wasmKernel(wasm) : javascriptKernel();
  const trainer = new Trainer({ program: JSON.parse(file.metadata.program), tensors: file.tensors, data: dataBuffer,
                                settings, kernel, adamWasm: wasm });
  session.trainer = trainer;
  session.kernel = kernel;
  const count = Math.min(EXACT_IMAGES, dataBuffer.testN); // the first of the test figure's images, the same each time
  session.sample = new LikelihoodSample(dataBuffer.testImages, count, trainer.pixels);
  session.tests = [trainer.testFigure()];
  session.losses = []; session.exact = [];
  postMessage({ type: "ready", labels: dataBuffer.testLabels.slice(0, MAP_POINTS), classNames: dataBuffer.classNames,
                dataset: dataBuffer.dataset, n: dataBuffer.n, arrived: trainer.arrived,
                stepsPerEpoch: trainer.stepsPerEpoch,
                totalSteps: trainer.totalSteps, backend: wasm ? "WebAssembly SIMD" : "JavaScript", dataFrom });
  progress(true);
}

// One batch; a stop (finished, diverged) is posted once
function step() {
  const trainer = session.trainer, record = trainer.step();
  if (!record) {
    session.running = false;
    const last = session.lastExact;
    if (trainer.stopped.reason === "finished" && last !== trainer.steps) exactFigure(); // the weights training ends with
    progress(true); // the last steps' losses, and the digit, grid and map of the weights training ends with
    postMessage({ type: "stopped", ...trainer.stopped });
    return false;
  }
  session.seen.images += record.rows;
  session.losses.push({ step: record.step, ...trainer.running });
  if (record.step % TEST_EVERY === 0) session.tests.push(trainer.testFigure());
  if (record.step % EXACT_EVERY === 0) exactFigure();
  return true;
}

// The exact figure: -log p(x) of the sample by quadrature, and the -ELBO of the same images (the test figure's noise),
// so their difference is the gap of this step's weights -> {step, exact, elbo, images, ms}, nats per image
function exactFigure() {
  const trainer = session.trainer, t0 = performance.now();
  const { mean } = session.sample.logLikelihood((z, rows) => trainer.vae.decodeLogits(z, rows), session.kernel);
  const { elbo } = trainer.testFigure(session.sample.count);
  session.lastExact = trainer.steps;
  session.exact.push({ step: trainer.steps, exact: -mean, elbo, images: session.sample.count,
                       ms: performance.now() - t0 });
}

function slice() {
  session.pending = false;
  if (!session.running || !session.trainer) return;
  const t0 = performance.now();
  let t = t0, stepMs = 0;
  do { // one step at least; no step that would end the slice past SLICE_MS
    if (!step()) break;
    stepMs = performance.now() - t;
    t += stepMs;
  } while (session.running && t - t0 + stepMs <= SLICE_MS);
  const now = performance.now(), elapsed = (now - session.seen.since) / 1000;
  if (elapsed >= 1) {
    session.imagesPerSecond = session.seen.images / elapsed;
    session.seen = { images: 0, since: now };
  }
  progress(false);
  schedule();
}

// the next slice after the messages that came meanwhile (a MessageChannel task runs sooner than setTimeout's 4 ms)
const channel = new MessageChannel();
channel.port1.onmessage = slice;
function schedule() {
  if (session.running && !session.pending) { session.pending = true; channel.port2.postMessage(null); }
}

// What the tab paints: the losses and test figures since the last post, the decoded view, the map's means when due
function progress(force) {
  const now = performance.now(), trainer = session.trainer, view = session.view;
  if (!force && now - session.lastFrame < FRAME_MS) return;
  session.lastFrame = now;
  const message = { type: "progress", step: trainer.steps, epoch: trainer.epoch, lr: trainer.lr, beta: trainer.beta,
                    running: session.running, imagesPerSecond: session.imagesPerSecond, arrived: trainer.arrived,
                    n: trainer.data.n, losses: session.losses, tests: session.tests, exact: session.exact, view: null,
                    pixels: null, means: null };
  session.losses = []; session.tests = []; session.exact = [];
  const transfer = [];
  if (view && (force || session.viewMoved || now - session.lastView >= VIEW_MS)) {
    session.lastView = now;
    session.viewMoved = false;
    const rows = 1 + view.grid * view.grid;
    const points = Float32Array.from(viewPoints(view.z1, view.z2, view.span, view.grid));
    message.pixels = trainer.decode(points, rows);
    message.view = view;
    transfer.push(message.pixels.buffer);
  }
  if (force || now - session.lastMeans >= MEANS_MS) {
    session.lastMeans = now;
    message.means = trainer.latentMeans();
    transfer.push(message.means.buffer);
  }
  postMessage(message, transfer);
}

const handlers = {
  start: (m) => start(m),
  run() {
    if (!session.trainer || session.trainer.stopped || session.dataFailed) return;
    session.running = true;
    session.seen = { images: 0, since: performance.now() };
    schedule();
  },
  pause() { session.running = false; progress(true); },
  step() { session.running = false; if (session.trainer && !session.dataFailed && step()) progress(true); },
  beta(m) { if (session.trainer) { session.trainer.setBeta(m.beta); if (!session.running) progress(true); } },
  view(m) { session.view = m; session.viewMoved = true; if (session.trainer && !session.running) progress(true); },
  test(m) {
    if (session.trainer) postMessage({ type: "test", ...session.trainer.testFigure(m.count, m.images ?? null) });
  },
  weights() {
    if (!session.trainer) return;
    const bytes = writeSafetensors(session.trainer.vae.parameters);
    postMessage({ type: "weights", bytes, step: session.trainer.steps }, [bytes.buffer]);
  },
};

onmessage = async ({ data }) => {
  try {
    await handlers[data.type](data);
  } catch (error) {
    session.running = false;
    postMessage({ type: "error", message: error.message || String(error) });
  }
};
