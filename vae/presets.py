"""The named training recipes, defined once for both trainers: `python -m train --preset NAME` (train/loop.py's
TrainConfig takes its defaults from RECIPE) and the app's Train live tab, which trains in the visitor's browser
(webapp/live_training.py offers TAB_PRESETS).

A preset is a set of TrainConfig values over RECIPE, the default recipe; recipe(name) resolves one. docs/model.md
has the measurements behind each.
"""

from __future__ import annotations

# the default recipe: TrainConfig's defaults for the values that decide a run's result (docs/model.md, "Choosing the
# default")
RECIPE: dict = dict(arch="resmlp", hidden=384, blocks=2, latent_dim=2, beta=1.0, epochs=30, batch_size=128, lr=1.5e-3,
                    schedule="onecycle", warmup=0.05, weight_decay=0.0, grad_clip=0.0)

PRESETS: dict[str, dict] = {
    # the spec's recipe, exactly: reference MLP, batch 32, Adam 1e-4 constant, 100 epochs, beta 1
    "reference": dict(arch="mlp", batch_size=32, lr=1e-4, epochs=100, schedule="constant", beta=1.0,
                      weight_decay=0.0, grad_clip=0.0),
    # ours: see docs/model.md "Choosing the default" for the measurements behind each value
    "default": dict(),
    # under a minute on 2 CPU cores: a narrower trunk, twice the batch at twice the peak rate, and few enough epochs
    # that the one-cycle schedule anneals within the minute; one thread, because two stalled on a shared 2-core
    # machine and a fixed thread count repeats its figures run after run. docs/model.md "The quick preset"
    "quick": dict(hidden=256, blocks=1, batch_size=256, lr=3e-3, epochs=10, threads=1, snapshots=False),
    # the Train live tab's quick preset: beats 145.73 within a minute of training in a browser tab (one thread of
    # WebAssembly, about a third of PyTorch's speed): a narrower trunk than "quick", batch 64 for four times the steps
    # per image, three epochs. docs/speed.md "Training in the browser"
    "browser": dict(hidden=128, blocks=1, batch_size=64, lr=3e-3, epochs=3, threads=1, snapshots=False),
}
PRESET_PURPOSES: dict[str, str] = {  # what each preset is for, in `python -m train --help`
    "default": "this project's recipe (each option's default)",
    "reference": "the spec's recipe exactly",
    "quick": "beats the earlier version's test -ELBO (145.73) within 60 s of training on 2 CPU cores; add --iwae-k 0 "
             "to skip the final IWAE bound",
    "browser": "the Train live tab's quick preset, which beats 145.73 within 60 s of training in a browser",
}

# The Train live tab's presets: its name -> (the preset it trains, its label in the tab)
TAB_PRESETS: dict[str, tuple[str, str]] = {
    "quick": ("browser", "quick: the fastest to a good model"),
    "default": ("default", "default: this project's recipe"),
    "reference": ("reference", "reference: the spec's recipe (slow)"),
}


def recipe(name: str) -> dict:
    """A preset's values over the default recipe (the keys of RECIPE, and any others the preset sets)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
    return {**RECIPE, **PRESETS[name]}
