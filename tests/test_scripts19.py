"""A fourth batch of PyTorch tutorial, recipe and common-idiom scripts (tests/scripts19/*.py),
on what tests/scripts14, scripts16 and scripts17 do not cover: the two-layer-net version of
"Learning PyTorch with Examples", the chatbot tutorial (Luong attention, packed
bidirectional GRU, masked NLL), a from-scratch GPT, WGAN-GP (double backward through the
gradient penalty), PGD adversarial training, a denoising conv autoencoder, an LSTM
sentiment classifier over packed sequences, actor-critic, mixup / cutmix / label
smoothing, the torch.func API docs, resuming a checkpoint with OneCycleLR and GradScaler
state, samplers / IterableDataset / ChainDataset, bfloat16 autocast on CPU, Grad-CAM
hooks, custom Optimizer subclasses, siamese / triplet metric learning, word2vec with
negative sampling, a GCN on a sparse adjacency, LSTMCell time-series prediction with
LBFGS, ESPCN super-resolution (PixelShuffle), a LLaMA-style block (RMSNorm, rotary
embeddings, GQA, SwiGLU), SWA / EMA (swa_utils), MAML, a physics-informed network,
RealNVP, U-Net segmentation with a Dice loss, a ResNet, the LR scheduler zoo, a ViT, CTC
training, beam search / nucleus filtering, SimCLR / CLIP losses, detection box utilities,
STFT / mel features, the torch.accelerator quickstart, the SDPA tutorial's sdpa_kernel,
weights_only loading with safe globals, torch.gradient, the older torch.cuda.amp
namespace, DistributedSampler with persistent workers, autograd Node hooks and the
profiler's tensorboard_trace_handler, torch.library custom operators, torch.signal.windows,
register_multi_grad_hook, and compile with mark_dynamic / set_submodule.

Each script runs unmodified twice, with real torch and with kiln standing in for
``torch``; what they print must agree (see tests/_script_runner.py for the line format).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _script_runner import DEFAULT_TOLERANCE, check_script, run_all, script_names

pytest.importorskip("torch")

SCRIPTS = Path(__file__).resolve().parent / "scripts19"
NAMES = script_names(SCRIPTS)

# (rtol, atol) per script; training runs of many float32 steps drift apart by rounding,
# and bfloat16 autocast rounds differently from PyTorch's kernels
TOLERANCE: dict[str, tuple[float, float]] = {
    "autocast_bf16_cpu": (2e-2, 1e-2),
    "mini_gpt": (1e-3, 1e-4),
    "chatbot_luong_attention": (1e-3, 1e-4),
    "llama_block_rope": (1e-3, 1e-4),
    "maml_sinusoid": (1e-3, 1e-4),
    "pinn_ode": (1e-3, 1e-5),
}

# Printed lines (script -> key -> why) known to differ, each a gap in a file this test's
# author does not own or could not fix in this round; the test requires them to differ (so
# that a fix is noticed and the entry removed) and everything else to agree.
KNOWN_DIFFERENCES: dict[str, dict[str, str]] = {
    "known_gaps": {
        "nested_tensor": "no torch.nested",
    },
}

# Scripts that kiln cannot run to the end (script -> (text of the error, why)); the test
# requires that failure, so a fix is noticed and the entry removed.
KNOWN_FAILURES: dict[str, tuple[str, str]] = {}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """What every script printed under torch and under kiln (each side run once)."""
    folder = tmp_path_factory.mktemp("scripts19")
    return tuple(run_all(kiln, folder, SCRIPTS, NAMES, threads=1) for kiln in (False, True))


def test_the_tables_name_real_scripts():
    for table in (TOLERANCE, KNOWN_DIFFERENCES, KNOWN_FAILURES):
        assert set(table) <= set(NAMES), set(table) - set(NAMES)
    assert len(NAMES) >= 25


@pytest.mark.parametrize("name", NAMES)
def test_script_agrees_with_torch(name, outputs):
    check_script(
        name,
        outputs,
        KNOWN_DIFFERENCES.get(name, {}),
        TOLERANCE.get(name, DEFAULT_TOLERANCE),
        KNOWN_FAILURES.get(name),
    )
