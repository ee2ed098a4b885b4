"""What a recipe will cost before it runs: compute, throughput, time, memory, money, carbon.

Formulas and their sources (figures in docs/sources.md, "Scaling laws", "Compute", "Memory"
and "Models"):

- Parameters: LLaMA layout (untied embeddings, grouped-query attention, SwiGLU MLP with three
  matrices, RMSNorm); reproduces the published 6.74B / 13.02B / 68.98B.
- Model FLOPs per token: 6N + 12 * n_layers * seq_len * d_model, the convention of PaLM
  (Chowdhery et al. 2022, appendix B), Megatron-LM, MosaicML llm-foundry and torchtitan, so the
  MFU shown is the one those tools report for the same run (Kaplan et al. 2020, Table 1, count
  the attention term half as large: 6 * n_layers * seq_len * d_model). Recomputed activations
  are not model FLOPs.
- MFU (``modelled_mfu``): a product of factors fitted to the published tables. 62% on A100 for
  a tuned run of a 2B+ model on 8-128 GPUs (llm-foundry's and torchtitan's rows), less for
  smaller models; x0.87 with activation checkpointing (measured pairs 0.854-0.885, not the
  6/8 of recomputing 8N for 6N); ~5% per doubling of the sequence past 8K tokens; x0.85 at
  1,024 GPUs and more (Meta's Llama 1 and 2 runs on 1-2K A100 with selective checkpointing,
  Llama 3 405B on 8-16K H100). Each GPU scales it by its ``mfu_factor`` (H100 0.75, from
  llm-foundry's H100 rows). Tensor parallelism, tiny micro-batches and fp32 each cost a
  documented factor. FP8 linear layers multiply it by 1.28, torchtitan's measured gain over
  BF16 on H100 (``FP8_SPEEDUP``; MFU stays counted against the BF16 peak).
  tests/test_simulator_throughput.py checks every published row
  (``simulator.throughput_data``) within 15% (one 20%), Meta's GPU-hours within their
  tolerances (3-30%).
- Memory per GPU: mixed-precision Adam is 2 + 2 + 12 = 16 bytes/parameter and ZeRO stages 1-3
  shard the optimizer, then gradients, then weights over data-parallel ranks (Rajbhandari et
  al. 2020). Activations per layer s*b*h*34 bytes (Korthikanti et al. 2022 without the
  5*a*s/h attention-score term, which FlashAttention/xformers never materialise; LLaMA used
  xformers), 2*s*b*h with full recomputation, divided by the tensor-parallel degree (with
  sequence parallelism). Logits in fp32 are s*b*vocab*4 bytes.
- Energy: GPU-hours x board power x PUE 1.1; carbon 0.385 kg CO2e/kWh (LLaMA paper, sec. 6).
- Compute-optimal split: the closed-form optimum of L = E + A/N^alpha + B/D^beta under
  C = 6ND (Hoffmann et al. 2022 eq. 4) with Epoch AI's refit of approach 3 (Besiroglu et al.
  2024), about 20 tokens per parameter, as Chinchilla itself. The simulator's loss curves keep
  Hoffmann's printed fit, to which they are calibrated (``CHINCHILLA_*`` below). A run that
  starts from a pretrained model (``base_tokens > 0``: Vicuna, Code Llama) gets no split: its
  own compute is not a budget to divide between size and data (``Estimate.chinchilla_applies``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from simulator.catalog import GPUS, OPTIMIZERS, PRECISIONS, Architecture
from simulator.config import ConfigError, TrainingConfig

# The loss law of the simulator's curves: Hoffmann et al. 2022, approach 3, as printed. The
# per-family offsets and the dynamics are calibrated to the published runs against it, so it
# stays (docs/sources.md, "Scaling laws").
CHINCHILLA_E, CHINCHILLA_A, CHINCHILLA_B = 1.69, 406.4, 410.7
CHINCHILLA_ALPHA, CHINCHILLA_BETA = 0.34, 0.28
# The compute-optimal split: Epoch AI's refit of approach 3 (Besiroglu et al. 2024, arXiv
# 2404.10102, "Chinchilla Scaling: A replication attempt"). The printed parameters are
# mis-estimated (their optimum is 50-98 tokens per parameter at 1e21-1e24 FLOPs, against the ~20
# of Hoffmann's approaches 1 and 2 and of Chinchilla itself); the refit's is 18-22
# (docs/sources.md).
OPTIMAL_E, OPTIMAL_A, OPTIMAL_B = 1.8172, 482.01, 2085.43
OPTIMAL_ALPHA, OPTIMAL_BETA = 0.3478, 0.3658
PUE = 1.1  # LLaMA paper, carbon section (docs/sources.md, "Compute")
KG_CO2_PER_KWH = 0.385  # LLaMA paper, carbon section (docs/sources.md, "Compute")
FRAMEWORK_OVERHEAD_BYTES = 1.5e9  # CUDA context, NCCL buffers, allocator slack (assumed)


def param_count(arch: Architecture) -> int:
    """Parameters of a LLaMA-layout decoder: query and output projections of n_heads x
    head_size, keys and values of n_kv_heads x head_size, a gated MLP of three matrices, two
    norms per layer, and input and output embeddings (one table if tied, Gemma 2's)."""
    d, hd = arch.d_model, arch.head_size
    attn = 2 * d * hd * arch.n_heads + 2 * d * hd * arch.n_kv_heads
    mlp = 3 * d * arch.ffn_dim
    per_layer = attn + mlp + 2 * d
    tables = 1 if arch.tied_embeddings else 2
    return arch.n_layers * per_layer + tables * arch.vocab_size * d + d


FLOPS_CONVENTION = (
    "6N + 12 × layers × sequence × d_model FLOPs per token (PaLM, appendix B), as Megatron-LM, "
    "llm-foundry and torchtitan count them"
)
"""How MFU counts a token's model FLOPs, in words for the tooltips that show MFU."""


def flops_per_token(cfg: TrainingConfig) -> float:
    """Model training FLOPs per token: 6N + 12 * n_layers * seq_len * d_model.

    6N for the weight matmuls (forward 2N, backward 4N) plus the attention scores and their
    weighted sum, 2 * 2 * n_layers * seq_len * d_model forward and twice that backward
    (Chowdhery et al. 2022, PaLM appendix B; Megatron-LM, llm-foundry, torchtitan). Kaplan et
    al. 2020 count half the attention term (only the causal half of the scores is needed);
    the tools people compare MFU with count it all, so this does.
    """
    arch = cfg.arch
    width = arch.n_heads * arch.head_size  # d_model in the LLaMA layout (PaLM's H x Q)
    return 6.0 * param_count(arch) + 12.0 * arch.n_layers * cfg.seq_len * width


def peak_flops(cfg: TrainingConfig) -> float:
    """Peak dense FLOP/s of one GPU that MFU is counted against at the config's precision.

    FP8 runs count against the BF16 peak: only the linear layers' matmuls run in FP8, and the
    measured gain (``FP8_SPEEDUP``) is against BF16 runs, so their MFU reads as a BF16-
    equivalent one, comparable with BF16 runs' (torchtitan reports none for FP8 runs, its
    definition being unclear with two peaks).
    """
    gpu = GPUS[cfg.gpu]
    tflops = gpu.peak_tflops_bf16 if cfg.precision in ("bf16", "fp8") else gpu.peak_tflops_fp16
    if cfg.precision == "fp32":
        tflops = gpu.peak_tflops_fp16 / 2.0  # TF32 tensor cores run at half the 16-bit rate
    return tflops * 1e12


# Model-FLOPs utilisation, fitted to the published tables (docs/sources.md, "Compute",
# "Throughput calibration"; tests/test_simulator_throughput.py holds every row).
SMALL_CLUSTER_MFU = 0.62
"""A100 MFU of a tuned run of a 2B+ model on 8-128 GPUs without checkpointing: llm-foundry's
and torchtitan's rows sit at 0.60-0.66 once their checkpointing is divided out."""
SMALL_MODEL_PARAMS = 2e9
"""Below this size the matmuls underfill the GPU: llm-foundry's 125M-1.3B rows fall as
(N / 2e9)^0.1 (45% at 125M, 60% at 1.3B)."""
CHECKPOINTING_FACTOR = 0.87
"""MFU with activation checkpointing over MFU without, at the settings each allows: measured
pairs give 0.854 (llm-foundry MPT-7B, A100), 0.870 (its H100 rows) and 0.885 (torchtitan Llama
2 13B, selective). Not the 6/8 of recomputing 8N for 6N: the memory it frees buys larger
micro-batches, and selective recomputation (LLaMA section 2.4) skips the costly matmuls."""
LONG_SEQUENCE = 8192
"""From here on, each doubling of the sequence costs ~5% of MFU (llm-foundry's MPT-7B and 13B
rows at 8K-64K tokens: attention kernels run below the matmuls' utilisation)."""
AT_SCALE_FACTOR = 0.85
"""MFU at 1,024 GPUs and more over MFU at 8-128: Meta's Llama 1 and 2 runs (1-2K A100,
selective checkpointing) and Llama 3 405B's 38-43% on 8-16K H100 all sit in one band, so the
loss does not grow past ~1K GPUs in any published run."""
SCALE_FLAT_GPUS = 128  # llm-foundry's rows are flat from 8 to 128 GPUs
FP8_SPEEDUP = 1.28
"""Tokens/s with FP8 linear layers over BF16 on H100: torchtitan's Llama 3.1 8B (FSDP,
torch.compile, selective checkpointing) goes from 6,667 to 8,532 tokens/s/GPU on 8 GPUs
(1.280) and from 6,514 to 8,380 on 128 (1.286) with torchao's float8 (benchmarks/
llama3_h100_202412_torchtitan.md). Applied on every GPU that offers FP8 (the B200's own gain
is assumed the same)."""


def cluster_factor(num_gpus: int) -> float:
    """Share of the small-cluster MFU kept at ``num_gpus``: 1 up to 128 GPUs, then falling
    log-linearly to ``AT_SCALE_FACTOR`` at 1,024 (the shape between is assumed: no published
    run lies there), and flat beyond."""
    doublings = min(max(math.log2(max(num_gpus, 1) / SCALE_FLAT_GPUS), 0.0), 3.0)
    return 1.0 - (1.0 - AT_SCALE_FACTOR) * doublings / 3.0


def modelled_mfu(cfg: TrainingConfig) -> float:
    """Model-FLOPs utilisation this recipe should reach, or the user's override.

    A product of factors, each fitted to published measurements (module docstring and the
    constants above): the A100 level for the model size, the GPU, tensor parallelism, the
    micro-batch, the sequence length, checkpointing, the cluster size, and the GPUs idled by a
    partial last micro-step.
    """
    if cfg.mfu is not None:
        return cfg.mfu
    n = param_count(cfg.arch)
    mfu = SMALL_CLUSTER_MFU * min(1.0, float((n / SMALL_MODEL_PARAMS) ** 0.1))
    mfu *= GPUS[cfg.gpu].mfu_factor
    if cfg.tensor_parallel > 8:
        mfu *= 0.80  # tensor parallelism across nodes (Narayanan et al. 2021: keep TP in a node)
    elif cfg.tensor_parallel > 1:
        mfu *= 0.97  # (assumed)
    micro_tokens = cfg.micro_batch_size * cfg.seq_len
    # Small matmuls underfill the GPU (assumed).
    mfu *= min(1.0, float((micro_tokens / 2048.0) ** 0.15))
    mfu *= min(1.0, float((LONG_SEQUENCE / cfg.seq_len) ** 0.075))
    if cfg.activation_checkpointing:
        mfu *= CHECKPOINTING_FACTOR
    if cfg.precision == "fp8":
        mfu *= FP8_SPEEDUP
    mfu *= cluster_factor(cfg.num_gpus)
    # A partial last micro-step idles some GPUs.
    mfu *= cfg.sequences_per_batch / (cfg.grad_accum * cfg.data_parallel * cfg.micro_batch_size)
    return mfu


def tokens_per_second(cfg: TrainingConfig) -> float:
    return cfg.num_gpus * peak_flops(cfg) * modelled_mfu(cfg) / flops_per_token(cfg)


def memory_per_gpu(cfg: TrainingConfig) -> dict[str, float]:
    """Bytes per GPU by part: weights, gradients, optimizer, activations, other."""
    arch = cfg.arch
    p = float(param_count(arch))
    t, nd = cfg.tensor_parallel, cfg.data_parallel
    w = PRECISIONS[cfg.precision]
    mixed = w == 2
    weights = w * p / t
    grads = w * p / t
    optimizer = (OPTIMIZERS[cfg.optimizer].state_bytes + (4.0 if mixed else 0.0)) * p / t
    if cfg.zero_stage >= 1:
        optimizer /= nd
    if cfg.zero_stage >= 2:
        grads /= nd
    if cfg.zero_stage >= 3:
        layer = p / arch.n_layers
        weights = weights / nd + 2 * layer * w / t  # two layers gathered at a time (prefetch)
    s, b, h = cfg.seq_len, cfg.micro_batch_size, arch.d_model
    scale = w / 2.0  # Korthikanti's constants assume 16-bit activations
    full_layer = s * b * h * 34.0 * scale / t
    if cfg.activation_checkpointing:
        acts = arch.n_layers * 2.0 * s * b * h * scale / t + full_layer
    else:
        acts = arch.n_layers * full_layer
    logits = s * b * arch.vocab_size * 4.0 / t
    return {
        "weights": weights,
        "gradients": grads,
        "optimizer": optimizer,
        "activations": acts + logits,
        "other": FRAMEWORK_OVERHEAD_BYTES,
    }


def gpu_capacity_bytes(cfg: TrainingConfig) -> float:
    return GPUS[cfg.gpu].memory_gb * 1e9


def compute_optimal(compute_flops: float) -> tuple[float, float]:
    """Compute-optimal (params, tokens) for a budget of ``compute_flops`` = 6ND.

    Minimising L = E + A/N^alpha + B/D^beta subject to C = 6ND gives (Hoffmann et al. 2022,
    eq. 4) G = (alpha*A / (beta*B))^(1/(alpha+beta)), N_opt = G * (C/6)^(beta/(alpha+beta)),
    D_opt = (C/6) / N_opt. The constants are Epoch AI's refit (Besiroglu et al. 2024, arXiv
    2404.10102; ``OPTIMAL_*``), not Hoffmann's printed approach-3 fit (``CHINCHILLA_*``): the
    printed parameters are mis-estimated, and their optimum (32B on 3.0T tokens at Chinchilla's
    own 5.9e23 FLOPs, 93 tokens per parameter) contradicts the paper's approaches 1 and 2 and
    Chinchilla. The refit gives 73B on 1.34T there (18 per parameter). The simulator's loss
    curves keep the printed fit, to which they are calibrated (docs/sources.md,
    "Scaling laws").
    """
    a, b = OPTIMAL_ALPHA, OPTIMAL_BETA
    g = (a * OPTIMAL_A / (b * OPTIMAL_B)) ** (1.0 / (a + b))
    n_opt = g * (compute_flops / 6.0) ** (b / (a + b))
    return n_opt, compute_flops / 6.0 / n_opt


@dataclass(frozen=True)
class Estimate:
    """Everything ``estimate`` predicts for a config. Memory figures are bytes per GPU."""

    params: int
    flops_per_token: float
    total_flops: float
    tokens: float
    steps: int
    grad_accum: int
    mfu: float
    tokens_per_second: float
    step_seconds: float
    wall_seconds: float
    gpu_hours: float
    energy_kwh: float
    co2_kg: float
    price_per_gpu_hour: float
    cost_usd: float
    memory: dict[str, float]
    memory_total: float
    memory_capacity: float
    fits: bool
    tokens_per_param: float
    optimal_params: float
    optimal_tokens: float
    optimal_tokens_per_param: float = field(default=20.0)
    # Tokens the model was pretrained on before this run (``TrainingConfig.base_tokens``).
    base_tokens: float = 0.0

    @property
    def chinchilla_applies(self) -> bool:
        """Whether the compute-optimal advice means anything: only for a run from scratch.

        A fine-tune or continued pretraining (Vicuna, Code Llama) starts from a model already
        trained on ``base_tokens``; its own compute is no budget to split between size and
        data, and its tokens per parameter are no verdict on how well trained it is.
        """
        return self.base_tokens == 0

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["memory"] = dict(self.memory)
        return d


def estimate(cfg: TrainingConfig) -> Estimate:
    """Predict time, memory, cost and carbon for ``cfg`` (pure, constant time: ~0.1 ms)."""
    n = param_count(cfg.arch)
    fpt = flops_per_token(cfg)
    tokens = cfg.total_tokens
    tps = tokens_per_second(cfg)
    wall = tokens / tps
    gpu_hours = wall * cfg.num_gpus / 3600.0
    energy = gpu_hours * GPUS[cfg.gpu].power_w / 1000.0 * PUE
    price = (
        cfg.price_per_gpu_hour
        if cfg.price_per_gpu_hour is not None
        else GPUS[cfg.gpu].price_per_hour
    )
    memory = memory_per_gpu(cfg)
    total = sum(memory.values())
    capacity = gpu_capacity_bytes(cfg)
    n_opt, d_opt = compute_optimal(6.0 * n * tokens)
    return Estimate(
        params=n,
        flops_per_token=fpt,
        total_flops=fpt * tokens,
        tokens=tokens,
        steps=cfg.total_steps,
        grad_accum=cfg.grad_accum,
        mfu=modelled_mfu(cfg),
        tokens_per_second=tps,
        step_seconds=cfg.global_batch_tokens / tps,
        wall_seconds=wall,
        gpu_hours=gpu_hours,
        energy_kwh=energy,
        co2_kg=energy * KG_CO2_PER_KWH,
        price_per_gpu_hour=price,
        cost_usd=gpu_hours * price,
        memory=memory,
        memory_total=total,
        memory_capacity=capacity,
        fits=total <= capacity,
        tokens_per_param=tokens / n,
        optimal_params=n_opt,
        optimal_tokens=d_opt,
        optimal_tokens_per_param=d_opt / n_opt,
        base_tokens=cfg.base_tokens,
    )


@dataclass(frozen=True)
class FitAdvice:
    """One change that would make a config fit, and the memory per GPU it would need."""

    changes: dict[str, Any]
    text: str
    memory_total: float
    fits: bool


def fit_advice(cfg: TrainingConfig, limit: int = 4) -> list[FitAdvice]:
    """Changes that make ``cfg`` fit its GPUs, cheapest first; empty when it already fits.

    Tries, in the order a practitioner would: more ZeRO sharding, activation checkpointing, a
    smaller micro-batch, more tensor parallelism, then combinations of these.
    """
    capacity = gpu_capacity_bytes(cfg)

    def total(c: TrainingConfig) -> float:
        return sum(memory_per_gpu(c).values())

    if total(cfg) <= capacity:
        return []
    candidates: list[tuple[dict[str, Any], str]] = []
    if cfg.data_parallel > 1:
        for stage in range(cfg.zero_stage + 1, 4):
            label = "FSDP / ZeRO-3" if stage == 3 else f"ZeRO stage {stage}"
            candidates.append(({"zero_stage": stage}, f"shard with {label}"))
    if not cfg.activation_checkpointing:
        candidates.append(({"activation_checkpointing": True}, "turn on activation checkpointing"))
    mb = cfg.micro_batch_size
    while mb > 1:
        mb //= 2
        candidates.append(({"micro_batch_size": mb}, f"lower the micro-batch to {mb}"))
    tp = cfg.tensor_parallel * 2
    while tp <= 8 and cfg.num_gpus % tp == 0 and cfg.arch.n_heads % tp == 0:
        candidates.append(
            (
                {"tensor_parallel": tp},
                f"split each layer's weight matrices over {tp} GPUs (tensor parallel {tp})",
            )
        )
        tp *= 2
    best_combo: dict[str, Any] = {}
    if cfg.data_parallel > 1:
        best_combo["zero_stage"] = 3
    best_combo["activation_checkpointing"] = True
    best_combo["micro_batch_size"] = 1
    candidates.append(
        (best_combo, "combine: " + ", ".join(f"{k}={v}" for k, v in best_combo.items()))
    )

    advice: list[FitAdvice] = []
    for changes, text in candidates:
        try:
            trial = replace(cfg, **changes)
            trial.validate()
        except ConfigError:
            continue
        need = total(trial)
        if need <= capacity:
            advice.append(FitAdvice(changes, text, need, True))
        if len(advice) >= limit:
            break
    if not advice:
        per_gpu = GPUS[cfg.gpu].memory_gb
        advice.append(
            FitAdvice(
                {},
                f"does not fit {per_gpu:g} GB even fully sharded with checkpointing: "
                "use more GPUs, a larger-memory GPU or a smaller model",
                total(cfg),
                False,
            )
        )
    return advice
