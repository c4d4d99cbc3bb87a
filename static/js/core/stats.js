// Timings the page keeps for bench/browser_fps.py (through window.vaeExplorer.debug.stats): each list holds the
// latest STATS_KEEP entries. DOM-free.

const STATS_KEEP = 20000;

export function newStats() {
  return { frames: [], inputs: [], backend: null, decodeMs: [], decodedRows: [], pathFrames: [], trainingFrames: [] };
}

// list.push(item), dropping the older half when the list is full
export function keep(list, item) {
  list.push(item);
  if (list.length > STATS_KEEP) list.splice(0, STATS_KEEP / 2);
}
