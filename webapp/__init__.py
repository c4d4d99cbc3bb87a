"""webapp: the pieces `app.py` wires into its Gradio page — the browser decoder's weight bundle, the page's
templates and script from static/, checks of what users send, and the API's PNG outputs. The model's own work
(decoding, encoding, reconstructing, on arrays) is `vae.explorer`; nothing here trains or evaluates."""
