// The page's address as the view's state: tab, z1, z2, span, model and a path's ends (a1, a2, b1, b2); other
// parameters such as Gradio's __theme are kept. It is rewritten without a new history entry per step; on a Hugging
// Face Space the app runs in an iframe, so the Space's page is told too, as Spaces document (postMessage with
// queryString), and a shared link opens the same view.

// a path relative to the app's root (which is not the page's URL when the app sits behind a proxy)
export function appURL(path) {
  const root = window.gradio_config && window.gradio_config.root;
  return new URL(path, root ? root.replace(/\/?$/, "/") : document.baseURI).href;
}

export class Address {
  constructor() {
    this.params = new URLSearchParams(location.search); // as the page was opened
    this.model = this.params.get("model"); // the model shown, "default" or null: none in the address
    this.tab = this.params.get("tab");
    this.ready = false; // not written before the view it held has been applied
  }

  // the number the page was opened with for `key`, or undefined
  number(key) {
    const value = parseFloat(this.params.get(key));
    return this.params.has(key) && Number.isFinite(value) ? value : undefined;
  }

  // view: {z1, z2, span}; path: {a: [a1, a2], b: [b1, b2]} or null
  write(view, path) {
    if (!this.ready) return;
    const params = new URLSearchParams(location.search);
    for (const key of ["z1", "z2", "span"]) params.set(key, view[key].toFixed(2));
    if (this.model && this.model !== "default") params.set("model", this.model); else params.delete("model");
    if (this.tab && this.tab !== "explore") params.set("tab", this.tab); else params.delete("tab");
    for (const [key, value] of [["a1", path?.a[0]], ["a2", path?.a[1]], ["b1", path?.b[0]], ["b2", path?.b[1]]]) {
      if (value === undefined) params.delete(key); else params.set(key, value.toFixed(2));
    }
    const query = `?${params.toString()}`;
    if (query === location.search) return;
    history.replaceState(history.state, "", query + location.hash);
    if (window.parent !== window) {
      window.parent.postMessage({ queryString: query, hash: location.hash }, "https://huggingface.co");
    }
  }
}
