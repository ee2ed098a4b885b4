"""Catalogues of models, GPUs, optimizers and schedules, with the source of every number.

Architectures are the published configs (LLaMA, Llama 2, Llama 3.1, Mistral 7B v0.1, Qwen2.5,
Gemma 2, Code Llama papers and their ``config.json`` files); parameter counts are *derived*
from them by ``estimate.param_count`` (docs/sources.md, "Models"). GPU figures are the
vendors' dense BF16 (and FP8) peaks, memory, bandwidth and board power as collected in
docs/sources.md, "Compute". A number that is not in docs/sources.md is marked ``assumed`` in
its ``source`` (a model's unpublished fields in ``ModelSpec.assumed``) so nobody mistakes it
for data; the presets' recipes say the same per setting (``simulator.presets``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Architecture:
    """A decoder-only transformer with a gated MLP (three matrices, SwiGLU or GeGLU), in the
    LLaMA layout: untied input and output embeddings and heads of d_model / n_heads, unless
    ``tied_embeddings`` or ``head_dim`` (Gemma 2's) say otherwise."""

    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    ffn_dim: int
    vocab_size: int
    context_len: int
    head_dim: int = 0  # 0: d_model / n_heads
    tied_embeddings: bool = False

    @property
    def head_size(self) -> int:
        return self.head_dim or self.d_model // self.n_heads


@dataclass(frozen=True)
class ModelSpec:
    """A catalogue model: its architecture and what its authors trained it on.

    ``pretrain_tokens`` is the one number for the tokens of the data its published run trained
    on (a fine-tune's own data, not its base model's: Vicuna's 370M, seen three times): its
    preset reads it from here (``simulator.presets``). ``assumed`` names the fields its
    authors did not publish (Mistral's token count).
    """

    slug: str
    name: str
    family: str
    arch: Architecture
    pretrain_tokens: float
    source: str
    assumed: tuple[str, ...] = ()


@dataclass(frozen=True)
class GpuSpec:
    """One accelerator's peak dense throughput, memory, power and a rough hourly price."""

    slug: str
    name: str
    peak_tflops_bf16: float  # dense; 0 when the chip has no BF16 (V100)
    peak_tflops_fp16: float
    memory_gb: float
    bandwidth_tbs: float
    power_w: float
    price_per_hour: float  # USD, on-demand list price
    mfu_factor: float  # software maturity / achieved-MFU factor relative to A100
    source: str
    # Dense FP8; 0 where the simulator offers no FP8 (no FP8 units, or no measured FP8
    # training throughput on the chip: docs/sources.md, "FP8").
    peak_tflops_fp8: float = 0.0


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer: fp32 state bytes per parameter and its own tunable parameters.

    ``lr_scale`` is its typical learning rate relative to AdamW's for the same model (Lion is
    run at 3-10x smaller LRs, Chen et al. 2023; SGD on transformers needs far larger ones and
    still trains worse). ``efficiency`` scales the progress per token relative to AdamW.
    ``critical_batch_scale`` is its critical batch relative to Adam's: SGD's is far smaller
    (Zhang et al. 2019), so it matches Adam at small batches and falls behind at large ones.
    ``params`` are the published defaults every run of it uses; they are not settings (no
    source gives their effect on the loss in a form the loss law could use; docs/sources.md,
    "Recipe knobs").
    """

    slug: str
    name: str
    state_bytes: float
    lr_scale: float
    efficiency: float
    params: Mapping[str, float]
    decoupled_weight_decay: bool
    source: str
    critical_batch_scale: float = 1.0


@dataclass(frozen=True)
class ScheduleSpec:
    """A learning-rate schedule shape; every one starts with a linear warmup."""

    slug: str
    name: str
    description: str
    uses_decay_fraction: bool = False
    extra: Mapping[str, float] = field(default_factory=dict)


_LLAMA1 = "Touvron et al. 2023, LLaMA (arXiv 2302.13971), Table 2"
_LLAMA2 = "Touvron et al. 2023, Llama 2 (arXiv 2307.09288), Table 1 and config.json"
_LLAMA3 = (
    "Dubey et al. 2024, The Llama 3 Herd of Models (arXiv 2407.21783), Table 3, config.json; "
    "Llama 3.1 model card (about 15T tokens; 405B: 15.6T, paper section 3.1)"
)
_MISTRAL = "Jiang et al. 2023, Mistral 7B (arXiv 2310.06825), Table 1"
_QWEN = "Qwen Team 2024, Qwen2.5 Technical Report (arXiv 2412.15115): 18T tokens; config.json"
_GEMMA = "Gemma Team 2024, Gemma 2 (arXiv 2408.00118), Tables 1-2 (27B 13T, 9B 8T, 2B 2T tokens)"
_CODELLAMA = "Roziere et al. 2023, Code Llama (arXiv 2308.12950), config.json"
_VICUNA = (
    "LMSYS Vicuna v1.5 model card (fine-tune of Llama 2 on ~125K ShareGPT conversations); "
    "370M tokens: Zheng et al. 2023, LMSYS-Chat-1M (arXiv 2309.11998), Vicuna-7B v1.5 row"
)

VICUNA_TOKENS = 3.7e8
"""The Vicuna v1.5 fine-tuning data (LMSYS-Chat-1M paper): the catalogue's and the preset's
one number (before issue 13 the preset padded 125K conversations to 2,048 tokens: 2.56e8 per
epoch, 7.68e8 over its three, while the catalogue said 3.7e8)."""


def _m(
    slug: str,
    name: str,
    family: str,
    arch: Architecture,
    tokens: float,
    source: str,
    assumed: tuple[str, ...] = (),
) -> ModelSpec:
    return ModelSpec(slug, name, family, arch, float(tokens), source, assumed)


# Architecture(layers, d_model, heads, kv heads, FFN, vocab, context): the published configs;
# parameter counts are derived (``estimate.param_count``).
_ROWS: tuple[ModelSpec, ...] = (
    _m(
        "llama-7b",
        "LLaMA 7B",
        "llama",
        Architecture(32, 4096, 32, 32, 11008, 32000, 2048),
        1e12,
        _LLAMA1,
    ),
    _m(
        "llama-13b",
        "LLaMA 13B",
        "llama",
        Architecture(40, 5120, 40, 40, 13824, 32000, 2048),
        1e12,
        _LLAMA1,
    ),
    _m(
        "llama-33b",
        "LLaMA 33B",
        "llama",
        Architecture(60, 6656, 52, 52, 17920, 32000, 2048),
        1.4e12,
        _LLAMA1,
    ),
    _m(
        "llama-65b",
        "LLaMA 65B",
        "llama",
        Architecture(80, 8192, 64, 64, 22016, 32000, 2048),
        1.4e12,
        _LLAMA1,
    ),
    _m(
        "llama-2-7b",
        "Llama 2 7B",
        "llama-2",
        Architecture(32, 4096, 32, 32, 11008, 32000, 4096),
        2e12,
        _LLAMA2,
    ),
    _m(
        "llama-2-13b",
        "Llama 2 13B",
        "llama-2",
        Architecture(40, 5120, 40, 40, 13824, 32000, 4096),
        2e12,
        _LLAMA2,
    ),
    _m(
        "llama-2-70b",
        "Llama 2 70B",
        "llama-2",
        Architecture(80, 8192, 64, 8, 28672, 32000, 4096),
        2e12,
        _LLAMA2,
    ),
    _m(
        "llama-3.1-8b",
        "Llama 3.1 8B",
        "llama-3",
        Architecture(32, 4096, 32, 8, 14336, 128256, 131072),
        15e12,
        _LLAMA3,
    ),
    _m(
        "llama-3.1-70b",
        "Llama 3.1 70B",
        "llama-3",
        Architecture(80, 8192, 64, 8, 28672, 128256, 131072),
        15e12,
        _LLAMA3,
    ),
    _m(
        "llama-3.1-405b",
        "Llama 3.1 405B",
        "llama-3",
        Architecture(126, 16384, 128, 8, 53248, 128256, 131072),
        15.6e12,
        _LLAMA3,
    ),
    # Mistral does not publish its token count: 2T (Llama 2's) is assumed.
    _m(
        "mistral-7b",
        "Mistral 7B v0.1",
        "mistral",
        Architecture(32, 4096, 32, 8, 14336, 32000, 8192),
        2e12,
        _MISTRAL,
        ("pretrain_tokens",),
    ),
    # Qwen2.5's 0.5B-3B tie their embeddings; the sizes with untied ones are catalogued.
    _m(
        "qwen2.5-7b",
        "Qwen2.5 7B",
        "qwen2.5",
        Architecture(28, 3584, 28, 4, 18944, 152064, 131072),
        18e12,
        _QWEN,
    ),
    _m(
        "qwen2.5-14b",
        "Qwen2.5 14B",
        "qwen2.5",
        Architecture(48, 5120, 40, 8, 13824, 152064, 131072),
        18e12,
        _QWEN,
    ),
    _m(
        "qwen2.5-32b",
        "Qwen2.5 32B",
        "qwen2.5",
        Architecture(64, 5120, 40, 8, 27648, 152064, 131072),
        18e12,
        _QWEN,
    ),
    _m(
        "qwen2.5-72b",
        "Qwen2.5 72B",
        "qwen2.5",
        Architecture(80, 8192, 64, 8, 29568, 152064, 131072),
        18e12,
        _QWEN,
    ),
    # Gemma 2: GeGLU MLPs (the FFN is one of its two input matrices' width), heads wider or
    # narrower than d_model / heads, tied embeddings of a 256,128-token vocabulary.
    _m(
        "gemma-2-2b",
        "Gemma 2 2B",
        "gemma-2",
        Architecture(26, 2304, 8, 4, 9216, 256128, 8192, head_dim=256, tied_embeddings=True),
        2e12,
        _GEMMA,
    ),
    _m(
        "gemma-2-9b",
        "Gemma 2 9B",
        "gemma-2",
        Architecture(42, 3584, 16, 8, 14336, 256128, 8192, head_dim=256, tied_embeddings=True),
        8e12,
        _GEMMA,
    ),
    _m(
        "gemma-2-27b",
        "Gemma 2 27B",
        "gemma-2",
        Architecture(46, 4608, 32, 16, 36864, 256128, 8192, head_dim=128, tied_embeddings=True),
        13e12,
        _GEMMA,
    ),
    # Fine-tunes: their own tokens; the base model's are ``BASE_TOKENS``.
    _m(
        "codellama-7b",
        "Code Llama 7B",
        "codellama",
        Architecture(32, 4096, 32, 32, 11008, 32016, 16384),
        5e11,
        _CODELLAMA,
    ),
    _m(
        "codellama-13b",
        "Code Llama 13B",
        "codellama",
        Architecture(40, 5120, 40, 40, 13824, 32016, 16384),
        5e11,
        _CODELLAMA,
    ),
    _m(
        "codellama-34b",
        "Code Llama 34B",
        "codellama",
        Architecture(48, 8192, 64, 8, 22016, 32000, 16384),
        5e11,
        _CODELLAMA,
    ),
    _m(
        "vicuna-7b",
        "Vicuna 7B v1.5",
        "vicuna",
        Architecture(32, 4096, 32, 32, 11008, 32000, 4096),
        VICUNA_TOKENS,
        _VICUNA,
    ),
    _m(
        "vicuna-13b",
        "Vicuna 13B v1.5",
        "vicuna",
        Architecture(40, 5120, 40, 40, 13824, 32000, 4096),
        VICUNA_TOKENS,
        _VICUNA,
    ),
)


MODELS: Mapping[str, ModelSpec] = MappingProxyType({m.slug: m for m in _ROWS})
CUSTOM_MODEL = "custom"

BASE_TOKENS: Mapping[str, float] = MappingProxyType({"vicuna": 2.0e12, "codellama": 2.0e12})
"""What a fine-tune starts from: its base model's pretraining tokens (FastChat fine-tunes the
Llama 2 base; Code Llama continues Llama 2), read by the presets."""


@dataclass(frozen=True)
class FamilyLoss:
    """Where a model family's losses sit against the Chinchilla law (nats per token).

    The law (Hoffmann et al. 2022, approach 3, as printed) was fitted on MassiveText with
    another tokenizer, so a family's runs get ``size_scale`` times its parameter term
    A / N^alpha and ``offset`` added: L = E + size_scale * A / N^alpha + offset + data terms.
    ``name`` is how the app writes the family; ``source`` says what the two numbers were fitted
    to, or that they are assumed and why.
    """

    name: str
    offset: float
    size_scale: float
    source: str


# LLaMA and Llama 2 share a tokenizer and one calibration, fitted (least squares) to the
# training losses their papers plot, read from the figures (approximate readings, +-0.02):
# LLaMA Figure 1 from 400B tokens on, Llama 2 Figure 5 at 2T (tests/test_simulator_families.py
# holds every reading within 0.03; docs/sources.md, "Family calibration"). The law's parameter
# term has to be 2.25 times as large: LLaMA 7B ends 0.24 nats above 65B, the law gives 0.11.
_META_FIT = (
    "fitted to LLaMA (Touvron et al. 2023a) Figure 1 and Llama 2 (Touvron et al. 2023b) "
    "Figure 5, values read from the figures"
)
_LLAMA_LOSS = (-0.375, 2.25)
_NO_LOSS = "assumed: no training loss published; Llama 2's calibration"
FAMILY_LOSS: Mapping[str, FamilyLoss] = MappingProxyType(
    {
        "llama": FamilyLoss("LLaMA", *_LLAMA_LOSS, _META_FIT),
        "llama-2": FamilyLoss("Llama 2", *_LLAMA_LOSS, _META_FIT),
        # No training loss published for these. Their tokenizers (128K-256K tokens) put more
        # text in a token than Llama's 32K, so their real losses per token are likely higher;
        # the simulator does not know by how much and uses Llama 2's calibration.
        "llama-3": FamilyLoss("Llama 3", *_LLAMA_LOSS, _NO_LOSS),
        # No training loss published. Mistral 7B beats Llama 2 13B on every benchmark of its
        # paper's Table 2; the offset puts its preset just below Llama 2 13B's loss (assumed).
        "mistral": FamilyLoss(
            "Mistral",
            -0.44,
            _LLAMA_LOSS[1],
            "assumed: no training loss published; set to end just below Llama 2 13B, which it "
            "outscores (Jiang et al. 2023, Table 2)",
        ),
        "qwen2.5": FamilyLoss("Qwen2.5", *_LLAMA_LOSS, _NO_LOSS),
        "gemma-2": FamilyLoss("Gemma 2", *_LLAMA_LOSS, _NO_LOSS),
        # Fine-tunes of Llama 2 (its tokenizer and size term), on data far more predictable
        # than web text: code, and templated chat with the loss on assistant turns. Levels
        # assumed (no published training loss), as before issue 13's calibration.
        "codellama": FamilyLoss(
            "Code Llama",
            -1.08,
            _LLAMA_LOSS[1],
            "assumed: no training loss published; code is more predictable than web text",
        ),
        "vicuna": FamilyLoss(
            "Vicuna",
            -1.18,
            _LLAMA_LOSS[1],
            "assumed: no training loss published; templated chat, loss on assistant turns",
        ),
        # A custom model is a LLaMA-layout decoder: it gets LLaMA's calibration, so a custom
        # copy of a catalogue model trains as the catalogue model does.
        "custom": FamilyLoss("Custom", *_LLAMA_LOSS, "assumed: LLaMA's calibration"),
    }
)


_GPU_SRC = 'docs/sources.md, "Compute", GPU table (vendor datasheets)'
_PRICE_SRC = 'docs/sources.md, "Compute", on-demand prices 2026'

GPUS: Mapping[str, GpuSpec] = MappingProxyType(
    {
        g.slug: g
        for g in (
            GpuSpec(
                "a100-40gb",
                "A100 40GB",
                312,
                312,
                40,
                1.555,
                400,
                1.80,
                1.0,
                f"{_GPU_SRC}; price assumed",
            ),
            GpuSpec(
                "a100-80gb",
                "A100 80GB",
                312,
                312,
                80,
                2.0,
                400,
                2.45,
                1.0,
                f"{_GPU_SRC}; {_PRICE_SRC}",
            ),
            # llm-foundry's H100 rows reach 0.67-0.80 of its A100 rows' MFU for the same model
            # and settings (mean 0.74); Llama 3 405B's 38-43% on 8-16K H100 agrees.
            GpuSpec(
                "h100-sxm",
                "H100 SXM",
                989,
                989,
                80,
                3.35,
                700,
                4.76,
                0.75,
                f"{_GPU_SRC}; {_PRICE_SRC}; MFU factor from llm-foundry's H100 and A100 tables "
                "and Llama 3 (38-43%); FP8 dense from the datasheet's 3,958 with sparsity",
                peak_tflops_fp8=1979,
            ),
            GpuSpec(
                "h200",
                "H200 SXM",
                989,
                989,
                141,
                4.8,
                700,
                6.35,
                0.82,
                f"{_GPU_SRC}; {_PRICE_SRC}; MFU factor assumed; FP8 dense as H100's",
                peak_tflops_fp8=1979,
            ),
            # NVIDIA HGX B200 datasheet, per GPU: BF16 4.5 and FP8 9 PFLOPS with sparsity (dense
            # half: 2,250 and 4,500 TFLOPS), 180 GB HBM3e at 7.7 TB/s, up to 1,000 W. No
            # published training MFU in docs/sources.md: H100's factor is assumed.
            GpuSpec(
                "b200",
                "B200",
                2250,
                2250,
                180,
                7.7,
                1000,
                7.00,
                0.75,
                f"{_GPU_SRC}; price and MFU factor (H100's) assumed",
                peak_tflops_fp8=4500,
            ),
            GpuSpec(
                "mi300x",
                "MI300X",
                1307,
                1307,
                192,
                5.3,
                750,
                4.00,
                0.65,
                f"{_GPU_SRC}; price and MFU factor assumed",
            ),
            GpuSpec(
                "l40s",
                "L40S",
                362,
                362,
                48,
                0.86,
                350,
                1.40,
                0.80,
                f"{_GPU_SRC}; {_PRICE_SRC}; MFU factor assumed",
            ),
            GpuSpec(
                "v100-32gb",
                "V100 32GB",
                0,
                125,
                32,
                0.9,
                300,
                0.90,
                0.85,
                f"{_GPU_SRC}; price and MFU factor assumed",
            ),
            GpuSpec(
                "rtx-4090",
                "RTX 4090",
                165,
                165,
                24,
                1.0,
                450,
                0.60,
                0.80,
                f"{_GPU_SRC}; {_PRICE_SRC}; MFU factor assumed",
            ),
        )
    }
)

OPTIMIZERS: Mapping[str, OptimizerSpec] = MappingProxyType(
    {
        o.slug: o
        for o in (
            OptimizerSpec(
                "adamw",
                "AdamW",
                8,
                1.0,
                1.0,
                MappingProxyType({"beta1": 0.9, "beta2": 0.95, "eps": 1e-5}),
                True,
                "Loshchilov & Hutter 2019; LLaMA settings beta2 0.95, eps 1e-5",
            ),
            OptimizerSpec(
                "adam",
                "Adam (L2)",
                8,
                1.0,
                0.97,
                MappingProxyType({"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}),
                False,
                "Kingma & Ba 2015; coupled L2 decay generalises slightly worse "
                "(Loshchilov & Hutter)",
            ),
            # SGD trails the adaptive optimizers on language models (Zhao et al. 2024; Kunstner
            # et al. 2023) by a gap that grows with the batch: at small batches it matches Adam
            # (Marek et al. 2025), and its critical batch is far below Adam's (Zhang et al.
            # 2019). So its token efficiency is Adam's, its critical batch 1/8 of it (assumed:
            # the order of magnitude of Zhang et al.'s Transformer curves).
            OptimizerSpec(
                "sgd",
                "SGD + momentum",
                4,
                30.0,
                1.0,
                MappingProxyType({"momentum": 0.9, "nesterov": 0.0}),
                False,
                "one momentum buffer; on transformers it falls behind Adam as the batch grows",
                critical_batch_scale=0.125,
            ),
            OptimizerSpec(
                "adafactor",
                "Adafactor",
                0.1,
                1.0,
                0.96,
                MappingProxyType({"beta2_decay": -0.8, "eps1": 1e-30, "clip_threshold": 1.0}),
                True,
                "Shazeer & Stern 2018: factored second moments, no first moment",
            ),
            OptimizerSpec(
                "lion",
                "Lion",
                4,
                0.2,
                1.0,
                MappingProxyType({"beta1": 0.9, "beta2": 0.99}),
                True,
                "Chen et al. 2023: one momentum state, LR 3-10x below AdamW's",
            ),
        )
    }
)

SCHEDULES: Mapping[str, ScheduleSpec] = MappingProxyType(
    {
        s.slug: s
        for s in (
            ScheduleSpec("constant", "Constant", "linear warmup, then the peak LR throughout"),
            ScheduleSpec(
                "linear", "Linear decay", "linear warmup, then linear decay to the minimum"
            ),
            ScheduleSpec(
                "cosine", "Cosine", "linear warmup, then cosine decay to the minimum (LLaMA)"
            ),
            ScheduleSpec(
                "wsd",
                "Warmup-Stable-Decay",
                "linear warmup, constant peak, then a short decay at the end (MiniCPM)",
                uses_decay_fraction=True,
            ),
            ScheduleSpec(
                "inverse-sqrt",
                "Inverse square root",
                "linear warmup, then peak * sqrt(warmup / t), floored at the minimum",
            ),
        )
    }
)

PRECISIONS: Mapping[str, int] = MappingProxyType({"bf16": 2, "fp16": 2, "fp32": 4, "fp8": 2})
"""Bytes per weight/activation element for each training precision. FP8 is FP8 matmuls in the
linear layers with BF16 weights, gradients and activations (torchao float8, Transformer
Engine): its memory is BF16's (torchtitan measured 76.8 GiB against 77.0 GiB; docs/sources.md,
"FP8")."""
