"""What a finished run leaves for people: the loss curve and the test set's latent scatter (matplotlib), a grid of
decoded images (vae/imaging.py, as the app draws its grid), all PNG, and the model card README.md with model-index
metadata; each names the data set the model was trained on.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from huggingface_hub import EvalResult, ModelCard  # noqa: E402

from vae import VAE  # noqa: E402
from vae.atomic import atomic_write_text  # noqa: E402
from vae.datasets import MNIST, DataSet, get_dataset  # noqa: E402
from vae.hub import card_data  # noqa: E402
from vae.imaging import grid_image, latent_grid, png_bytes  # noqa: E402

LOSS_CURVE, SAMPLES, LATENT_SCATTER = "loss_curve.png", "samples.png", "latent_scatter.png"


def plot_loss_curve(history: list[dict], path: Path, dataset: DataSet = MNIST) -> None:
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(epochs, [h["train_loss"] for h in history], label="train −ELBO (running, β-weighted)")
    ax.plot(epochs, [h["test_elbo"] for h in history], label="test −ELBO")
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per image")
    lo = min(min(h["test_elbo"] for h in history), min(h["train_loss"] for h in history))
    ax.set_ylim(lo - 2, lo + 40)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"training on {dataset.title}")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


@torch.inference_mode()
def plot_samples(model: VAE, path: Path, n: int = 15, span: float = 2.5) -> None:
    """Decoded images on an n x n lattice over [-span, span]^2 (z1 left to right, z2 bottom to top): the app's grid,
    drawn by the same functions (vae/imaging.py)."""
    if model.config.latent_dim != 2:
        z = torch.randn(n * n, model.config.latent_dim, generator=torch.Generator().manual_seed(0))
    else:
        z = torch.from_numpy(latent_grid(0.0, 0.0, span, n))  # (n * n, 2), row-major
    device = next(model.parameters()).device
    probabilities = model.decode(z.to(device)).cpu().numpy()  # (n * n, 1, 28, 28)
    Path(path).write_bytes(png_bytes(grid_image(probabilities, n, mark=False)))  # uint8 grey (n 28, n 28)


def plot_latent_scatter(mu: np.ndarray, labels: np.ndarray, path: Path, dataset: DataSet = MNIST) -> None:
    fig, ax = plt.subplots(figsize=(6, 6), dpi=100)
    cmap = plt.get_cmap("tab10")
    for label, name in enumerate(dataset.class_names):
        m = labels == label
        ax.scatter(mu[m, 0], mu[m, 1], s=2, color=cmap(label), label=name, alpha=0.6, rasterized=True)
    ax.set_xlim(-4, 4)
    ax.set_ylim(-4, 4)
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_aspect("equal")
    ax.legend(markerscale=5, title="digit" if dataset is MNIST else "class", loc="upper right", fontsize=8)
    ax.set_title(f"{dataset.title} test set: posterior means μ(x)")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


CARD_TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

A variational autoencoder with a **{{ latent_dim }}-D latent space** trained on {{ dataset.title }}, made for the
*VAE 2-D Latent Explorer* demo (a Gradio app): every point of the plane decodes to {{ a_noun }}. Encoder q(z|x) = N(μ(x), diag σ²(x)), prior N(0, I), Bernoulli decoder on grey levels in
[0, 1] (not binarized); objective per image: BCE summed over the 784 pixels + β·KL.
{% if dataset.name != "mnist" %}
Classes, by label: {% for name in dataset.class_names %}{{ loop.index0 }} {{ name }}{% if not loop.last %}, {% endif %}{% endfor %}.
{% endif %}
## Results on the {{ dataset.title }} test split (10,000 images, nats per image)

| model | −ELBO | BCE | KL | −ELBO at z = μ | IWAE bound{% if iwae_k %}, K = {{ iwae_k }}{% endif %} | exact −log p(x) |
| --- | --- | --- | --- | --- | --- | --- |
| **this model** (`{{ arch }}`) | **{{ "%.2f"|format(elbo) }}** | {{ "%.2f"|format(bce) }} | {{ "%.2f"|format(kl) }} | {{ "%.2f"|format(elbo_at_mu) }} | {% if iwae is not none %}**{{ "%.2f"|format(iwae) }}**{% else %}—{% endif %} | {% if exact is not none %}**{{ "%.2f"|format(exact) }}**{% else %}—{% endif %} |
{% for row in comparisons -%}
| {{ row.name }} | {{ "%.2f"|format(row.elbo) }} | {{ row.bce }} | {{ row.kl }} | {{ row.elbo_at_mu }} | {{ row.iwae }} | {{ row.exact }} |
{% endfor %}
−ELBO uses one posterior sample per image (seed 0); the IWAE bound (Burda et al. 2015) is an upper bound on
−log p(x) with K importance samples{% if iwae is none %} (not computed for this model: `--iwae-k 0`){% endif %}. Lower is better.
{% if exact is not none %}With a 2-D latent space −log p(x) itself can be computed: p(x) = ∫ p(x|z) N(z; 0, I) dz by
quadrature on the plane, on {{ exact_images }} test images, each to 0.01 nats (two grids of step 0.02 half a step apart; the
{{ exact_refined }} images they could not settle integrated on their own finer grid; {{ "%.0f"|format(exact_seconds) }} s).
−ELBO − exact is the whole inference gap: what the encoder's Gaussian costs.{% endif %}
{% if pixel_entropy is not none %}
No model can go below the test split's pixel entropy, **{{ "%.2f"|format(pixel_entropy) }}** nats per image: the
BCE of a perfect reconstruction of these grey levels (each pixel's binary entropy, summed over the 784). Compare
data sets by their distance above this floor.
{% endif %}
## Training

Trained in {{ "%.0f"|format(seconds) }} s on {{ device }} with:

```bash
{{ command }}
```

| setting | value |
| --- | --- |
{% for k, v in settings.items() -%}
| {{ k }} | {{ v }} |
{% endfor %}

![loss curve]({{ loss_curve }})

## What it learned

Decoded {{ dataset.noun }}s on a lattice over [−2.5, 2.5]² (z1 left to right, z2 bottom to top):

![decoded {{ dataset.noun }}s]({{ samples }})

The test set's posterior means, coloured by {{ "digit" if dataset.name == "mnist" else "class" }}:

![latent scatter]({{ scatter }})

{% if replay %}
## Training replay

`snapshots.safetensors` ({{ "%.1f"|format(replay.megabytes) }} MB) holds {{ replay.records|length }} snapshots of this
run, which the Training tab of the VAE 2-D Latent Explorer replays. Each has the decoder's weights (int8 rounded
with GPTQ, float16 where int8 was not close enough; decoded pixels within
{{ "%.2f"|format(replay.max_error) }}/255 of full precision at worst, 2/255 allowed) and the posterior means of
{{ replay.subset }} fixed test {{ dataset.noun }}s. Moments: before the first step, after 25 to 800 Adam steps, at the end of
epochs 1, 2, 3, 5 and 10, and the final model ({{ replay.steps_per_epoch }} steps per epoch).

| step | epoch | train −ELBO | test −ELBO |
| ---: | ---: | ---: | ---: |
{% for r in replay.records -%}
| {{ r.step }} | {{ "%.2f"|format(r.epoch) }} | {{ "%.2f"|format(r.train_elbo) }} | {{ "%.2f"|format(r.test_elbo) }} |
{% endfor %}
{% endif %}
## Use

```python
from vae import VAE  # this repo's `vae` package
import torch

model = VAE.from_pretrained("{{ repo_hint }}")  # a local folder or a Hub repo id; add revision= to pin a commit
{{ dataset.noun }} = model.decode(torch.tensor([[0.0, 0.0]]))  # (1, 1, 28, 28) probabilities
```

Files: `model.safetensors` (weights), `config.json` (architecture), `latents.safetensors` (test-set μ, σ and
labels, drawn by the app's latent map), `metrics.json` (per-epoch history), `results.json` (final figures){% if replay %},
`snapshots.safetensors` (the training replay){% endif %}.
"""


def replay_summary(path: Path) -> dict | None:
    """What the card says of a run's snapshots.safetensors, or None when the run has none."""
    from vae.snapshots import load_snapshots

    if not Path(path).is_file():
        return None
    snaps = load_snapshots(path)
    return dict(records=snaps.records, steps_per_epoch=snaps.steps_per_epoch, subset=f"{len(snaps.labels):,}",
                megabytes=Path(path).stat().st_size / 1e6, max_error=max(r["max_error"] for r in snaps.records))


def write_model_card(out_dir: Path, *, model: VAE, results: dict, history: list[dict], train_config: dict,
                     command: str, device: str, comparisons: list[dict] | None = None,
                     repo_hint: str = "path/to/model", replay: dict | None = None) -> Path:
    """README.md with the Hub metadata (license, library, tags, datasets, pipeline tag, model-index), for the data set
    the model's config names. `results` without "iwae" (--iwae-k 0) gives a card without the IWAE figure; `replay`
    (replay_summary) adds the snapshots. The settings table leaves out data_dir: a folder on the training machine,
    which does not decide the result (`command` says where the data set goes)."""
    cfg = model.config
    dataset = get_dataset(cfg.dataset)
    metric = dict(task_type="unconditional-image-generation", task_name="Unconditional image generation",
                  dataset_type=dataset.hub_id, dataset_name=dataset.title, dataset_split="test")
    eval_results = [EvalResult(metric_type="neg_elbo", metric_name="test -ELBO (nats/image)",
                               metric_value=round(results["elbo"], 2), **metric)]
    if "iwae" in results:
        eval_results.append(EvalResult(metric_type="iwae_bound",
                                       metric_name=f"IWAE-{results['iwae_k']} bound on -log p(x) (nats/image)",
                                       metric_value=round(results["iwae"], 2), **metric))
    if "exact" in results:
        eval_results.append(EvalResult(metric_type="neg_log_likelihood",
                                       metric_name="exact -log p(x) by quadrature on the 2-D plane (nats/image)",
                                       metric_value=round(results["exact"], 2), **metric))
    card = ModelCard.from_template(
        card_data(dataset, model_name=f"vae-2d-{dataset.name}-{cfg.arch}", metrics=["elbo"],
                  eval_results=eval_results), template_str=CARD_TEMPLATE,
        title=f"VAE with a {cfg.latent_dim}-D latent space on {dataset.title} ({cfg.arch})", dataset=dataset,
        a_noun=("an " if dataset.noun[0] in "aeiou" else "a ") + dataset.noun,
        latent_dim=cfg.latent_dim, arch=cfg.arch, seconds=history[-1]["seconds"] if history else 0.0,
        device=device, command=command, settings={k: v for k, v in train_config.items() if k != "data_dir"},
        loss_curve=LOSS_CURVE, samples=SAMPLES, scatter=LATENT_SCATTER, repo_hint=repo_hint,
        comparisons=comparisons or [], replay=replay,
        **{"iwae": None, "iwae_k": None, "exact": None, "pixel_entropy": None, **{k: v for k, v in results.items() if k != "dataset"}})
    path = Path(out_dir) / "README.md"
    atomic_write_text(path, str(card))
    return path
