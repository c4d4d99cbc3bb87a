"""The page's training engine (static/js/core/engine.js and adam.js) against PyTorch, under Node: for the spec's `mlp`
and the default `resmlp` (LayerNorm, SiLU, residual blocks), and for posterior variances beyond the encoder's clamp,
with both of the engine's kernels (JavaScript, WebAssembly SIMD): the loss and every parameter's gradient on real
MNIST test images (relative error <= 1e-4), five Adam steps (each tensor within 1e-4, relative), and the weights the
engine exports, loaded strictly by VAE.from_pretrained; and Adam's formula on its own (to float32 rounding, for
gradients from 1e-10 to 10). Python writes the training program, the batch, the noise and PyTorch's results into a
temporary folder; tests/node/engine.test.mjs reads them.

    python -m pytest tests/test_node_engine.py   (under a minute on 2 cores; needs Node.js 18+ and MNIST)
"""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import node_test
from vae import VAE, VAEConfig, negative_elbo
from vae.model import LOGVAR_MAX, LOGVAR_MIN
from webapp.training_program import initial_model, training_program, write_training_program

ROWS, STEPS = 64, 5  # images per batch, Adam steps
NODE_TEST = "tests/node/engine.test.mjs"
KERNELS = ("JavaScript", "WebAssembly-SIMD")  # kernels.js and adam.js: plain loops, or static/linear.wasm


def clamped_logvar(model: VAE) -> VAE:
    """Push one latent's log-variance below the clamp, where its gradient must stop as torch.clamp's does. (Above
    the clamp, sigma = e^7 makes a loss of ~6e5 nats whose float32 gradients PyTorch itself gets wrong in the third
    digit at some elements: float32 cannot give them to 1e-4, PyTorch's own float32 and float64 runs part by more.)"""
    with torch.no_grad():
        model.fc_logvar.bias[0] = LOGVAR_MIN - 10.0
    return model


CASES = {  # name: (config, seed, Adam's lr, weight decay, a change to the initial weights)
    "mlp": (VAEConfig(arch="mlp", beta=0.5), 0, 1e-3, 0.0, None),
    "resmlp": (VAEConfig(arch="resmlp", hidden=384, blocks=2, beta=2.0), 1, 3e-3, 1e-4, None),
    "mlp-clamped": (VAEConfig(arch="mlp", beta=1.0), 2, 1e-3, 0.0, clamped_logvar),
}


def pytorch_run(model: VAE, x: torch.Tensor, eps: torch.Tensor, beta: float, lr: float, weight_decay: float) -> dict:
    """PyTorch's figures for x (S, B, 784) and eps (S, B, D): the first batch's losses and gradients, then the
    weights after one Adam step per batch (train/loop.py's objective and optimiser)."""

    def objective(step: int):
        mu, logvar = model.encode(x[step])
        z = mu + torch.exp(0.5 * logvar) * eps[step]  # VAE.reparameterize, with this eps
        return negative_elbo(model.decode_logits(z), x[step], mu, logvar, beta)

    first = objective(0)
    first.loss.mean().backward()
    result = {"loss": first.loss.mean().item(), "bce": first.bce.mean().item(), "kl": first.kl.mean().item()}
    tensors = {f"grad.{name}": p.grad.clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    for step in range(len(x)):
        optimizer.zero_grad()
        loss = objective(step).loss.mean()
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
    tensors.update({f"after.{name}": p.detach().clone() for name, p in model.named_parameters()})
    return {"settings": {**result, "losses": losses}, "tensors": tensors}


def adam_run(lr: float, weight_decay: float, generator: torch.Generator) -> dict:
    """torch.optim.Adam on one tensor, from gradients spanning 1e-10 to 10 (eps = 1e-8 matters at the small end)
    and exact zeros -> the start, the gradients (S, n) and the tensor after each step (S, n)."""
    start = torch.randn(4096, generator=generator) * 0.1
    scale = 10.0 ** (torch.rand(STEPS, 4096, generator=generator) * 11 - 10)
    gradients = torch.randn(STEPS, 4096, generator=generator) * scale
    gradients[:, :64] = 0
    p = torch.nn.Parameter(start.clone())
    optimizer = torch.optim.Adam([p], lr=lr, weight_decay=weight_decay)
    after = []
    for g in gradients:
        p.grad = g.clone()
        optimizer.step()
        after.append(p.detach().clone())
    return {"start": start, "gradients": gradients, "after": torch.stack(after)}


@pytest.fixture(scope="module")
def engine_run(node_executable, test_tensor, tmp_path_factory):
    """Write each case's fixtures, run the Node test over them -> (folder, CompletedProcess)."""
    folder = tmp_path_factory.mktemp("engine-fixtures")
    noise = torch.Generator().manual_seed(14)
    for weight_decay in (0.0, 0.1):
        run = adam_run(1e-2, weight_decay, noise)
        save_file(run, str(folder / f"adam-decay-{weight_decay}.safetensors"),
                  metadata={"settings": json.dumps({"lr": 1e-2, "weight_decay": weight_decay})})
    for index, (name, (config, seed, lr, weight_decay, change)) in enumerate(CASES.items()):
        model = initial_model(config, seed)
        if change is not None:
            model = change(model)
        write_training_program(config, seed, folder / "models" / name / "init.safetensors", model=model)
        start = index * STEPS * ROWS  # different real test images for each case
        x = test_tensor[start : start + STEPS * ROWS].reshape(STEPS, ROWS, -1).contiguous()
        eps = torch.randn(STEPS, ROWS, config.latent_dim, generator=noise)
        run = pytorch_run(model, x, eps, config.beta, lr, weight_decay)
        settings = {**run["settings"], "beta": config.beta, "lr": lr, "weight_decay": weight_decay, "rows": ROWS,
                    "steps": STEPS}
        save_file({"x": x, "eps": eps, **run["tensors"]}, str(folder / "models" / name / "pytorch.safetensors"),
                  metadata={"settings": json.dumps(settings)})
    done = node_test(node_executable, NODE_TEST, ENGINE_FIXTURES=str(folder))
    return folder, done


def test_the_engine_computes_pytorchs_loss_gradients_and_adam_steps(engine_run):
    _, done = engine_run
    assert done.returncode == 0, f"node --test {NODE_TEST} failed:\n{done.stdout[-12000:]}\n{done.stderr[-4000:]}"
    # per kernel: Adam twice, then loss and gradients and Adam steps per model; then the refusals
    assert f"# pass {(2 + 2 * len(CASES)) * len(KERNELS) + 1}" in done.stdout, done.stdout[-4000:]


def test_the_weights_the_engine_exports_load_into_VAE_strictly(engine_run):
    folder, done = engine_run
    assert done.returncode == 0, "the Node test failed: see the test above"
    for (name, (config, *_)), kernel in itertools.product(CASES.items(), KERNELS):
        model = VAE.from_pretrained(folder / "models" / name / "exported" / kernel)  # strict: names, shapes, finite
        assert model.config == config
        pytorch = load_file(folder / "models" / name / "pytorch.safetensors")
        for tensor, value in model.state_dict().items():
            assert value.dtype == torch.float32
            expected = pytorch[f"after.{tensor}"]
            assert (value - expected).norm() <= 1e-4 * expected.norm(), (name, kernel, tensor)


def test_the_training_program_names_every_tensor_of_the_model_and_its_initial_weights():
    config = VAEConfig(arch="resmlp", hidden=32, blocks=1)
    model = initial_model(config, seed=3)
    program = training_program(model)
    assert program["logvar"][-1] == {"op": "clamp", "min": LOGVAR_MIN, "max": LOGVAR_MAX}
    assert [op["op"] for op in program["encoder"]] == ["linear", "silu", "residual", "layernorm", "silu"]
    torch.manual_seed(3)  # what python -m train --seed 3 does before building the model
    trained_from = VAE(config)
    for tensor, value in trained_from.state_dict().items():
        assert torch.equal(value, model.state_dict()[tensor]), tensor
