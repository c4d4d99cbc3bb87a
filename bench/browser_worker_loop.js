// What bench/browser_engine.py's two Web Workers (browser_engine_worker.js, browser_tfjs_worker.js) share: fetching a
// file, and answering each message with its handler's result, or {type: "error", message}.

export async function fetchBuffer(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

// handlers: {type: (message) => answer or a promise of one}
export function serve(handlers) {
  self.onmessage = async ({ data }) => {
    try {
      postMessage(await handlers[data.type](data));
    } catch (error) {
      postMessage({ type: "error", message: error.stack || String(error) });
    }
  };
}
