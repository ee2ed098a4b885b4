"""The Configuration tab: plan a run and see its cost before spending a GPU-hour.

Left: the recipe in grouped cards (model, data and batch, optimizer, schedule, hardware,
run). Right, sticky: the estimate (compute, time, money, carbon, tokens per parameter against
Chinchilla), memory per GPU against capacity with one-click fixes when it does not fit, and
the shareable link. The form's fields come from ``layouts.config_form.FIELDS``; each input
has a pattern-matching id, so one callback reads the whole form in one request and marks
every field at once.

Numbers are text inputs on purpose: the server parses "2T", "4Mi" or "3e-4" and says what is
wrong with "2 trillion", where an ``<input type=number>`` would send nothing at all.
The view builders below (``estimate_view``, ``fit_view``, ``hints``) are pure functions of a
config and its estimate, used by the callbacks and unit-tested directly.
"""

from __future__ import annotations

import json
import math
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

import simulator as sim
from layouts import config_form as cf
from layouts import ids
from layouts.figures import configuration as fc

DEBOUNCE_MS = 350  # one request when typing pauses, not one per key
SECTION_ICONS = {
    "model": "◆",
    "data": "▤",
    "optimizer": "∇",
    "schedule": "↘",
    "hardware": "▣",
    "run": "⚙",
}
SUMMARY_CLASS = "cfg-summary"
SWITCH = (("false", "Off"), ("true", "On · recompute in backward"))


# ------------------------------------------------------------------------------ inputs


def _tip(name: str, text: str) -> list[Any]:
    if not text:
        return []
    target = f"cfg-tip-{name.replace('.', '-')}"
    return [
        html.Span(
            "?",
            id=target,
            className="cfg-tip",
            tabIndex="0",
            **{"aria-label": text},
        ),
        dbc.Tooltip(text, target=target, placement="top"),
    ]


def _input(f: cf.Field) -> Any:
    fid = ids.cfg_field(f.name)
    if f.kind == "select":
        return dbc.Select(id=fid, options=[{"label": lab, "value": v} for v, lab in f.options])
    if f.kind == "switch":
        # A select, not a switch: dbc.Switch has no ``invalid`` prop, and every field takes
        # the same pattern-matching outputs.
        return dbc.Select(id=fid, options=[{"label": lab, "value": v} for v, lab in SWITCH])
    control = dbc.Input(
        id=fid,
        type="text",
        debounce=DEBOUNCE_MS,
        inputmode="decimal" if f.kind != "tokens" else "text",
        autocomplete="off",
        placeholder="auto" if f.optional else "",
        class_name="num",
    )
    if f.unit:
        return dbc.InputGroup([control, dbc.InputGroupText(f.unit)], size="sm")
    return control


def _field(f: cf.Field) -> html.Div:
    # Dash renders a dict id as compact JSON with sorted keys: the label can point at it, so
    # screen readers name the input and a click on the label focuses it.
    dom_id = json.dumps(ids.cfg_field(f.name), separators=(",", ":"), sort_keys=True)
    label = html.Label([f.label, *_tip(f.name, f.tip)], className="cfg-label", htmlFor=dom_id)
    return html.Div(
        [
            label,
            _input(f),
            dbc.FormFeedback(
                "", id=ids.cfg_feedback(f.name), type="invalid", className="cfg-feedback"
            ),
            html.Div(cf.bound_text(f), id=ids.cfg_hint(f.name), className="cfg-hint"),
        ],
        className="cfg-field",
    )


def _grid(fields: list[cf.Field] | tuple[cf.Field, ...]) -> html.Div:
    return html.Div([_field(f) for f in fields], className="cfg-grid")


def _card(key: str, title: str, body: list[Any], extra: Any = None) -> dbc.Card:
    header = html.Div(
        [
            html.Span(SECTION_ICONS.get(key, ""), className="cfg-icon", **{"aria-hidden": "true"}),
            html.H3(title, className="cfg-card-title"),
            extra,
        ],
        className="cfg-card-header",
    )
    return dbc.Card(dbc.CardBody([header, *body]), class_name="cfg-card", id=f"cfg-card-{key}")


def _group(name: str, children: list[Any], shown: bool = False) -> html.Div:
    return html.Div(children, id=ids.cfg_group(name), style=None if shown else {"display": "none"})


def _model_card() -> dbc.Card:
    preset = dcc.Dropdown(
        id=ids.CFG_PRESET,
        options=cf.preset_options(),
        value=cf.DEFAULT_PRESET,
        clearable=False,
        searchable=True,
        className="cfg-preset",
        maxHeight=360,
    )
    return _card(
        "model",
        "Model",
        [
            html.Div(
                [
                    html.Label("Preset", className="cfg-label"),
                    preset,
                    html.Div(
                        "Choosing a model loads its published recipe (batch, LR, hardware).",
                        className="cfg-hint",
                    ),
                ],
                className="cfg-field cfg-field-wide",
            ),
            _group(
                "custom",
                [
                    html.Div("Custom architecture (LLaMA layout)", className="cfg-subhead"),
                    _grid(cf.MODEL_FIELDS),
                ],
            ),
        ],
    )


def _optimizer_card() -> dbc.Card:
    fields = cf.OPTIMIZER_FIELDS
    chooser = fields[0]
    shared = [f for f in fields if f.group is None and f is not chooser]
    groups = [
        _group(
            f"opt-{slug}",
            [_grid([f for f in fields if f.group == f"opt-{slug}"])],
            shown=slug == "adamw",
        )
        for slug in sim.OPTIMIZERS
    ]
    return _card("optimizer", "Optimizer", [_grid([chooser]), *groups, _grid(shared)])


def _schedule_card() -> dbc.Card:
    fields = [f for f in cf.SCHEDULE_FIELDS if f.group is None]
    decay = [f for f in cf.SCHEDULE_FIELDS if f.group == "wsd"]
    return _card(
        "schedule",
        "Learning-rate schedule",
        [
            _grid(fields),
            _group("wsd", [_grid(decay)]),
            dcc.Graph(
                id=ids.CFG_LR,
                figure=fc.empty_figure("", 190),
                config={"displayModeBar": False, "responsive": True},
                className="cfg-lr-graph",
                style={"height": "190px"},  # responsive graphs fill their box: give it one
            ),
        ],
    )


def _actions() -> html.Div:
    upload = dcc.Upload(
        id=ids.CFG_UPLOAD,
        children=html.Span(["⤒ ", "Load JSON"], title="A saved config file (JSON, at most 64 KB)"),
        accept=".json,application/json",
        # The browser drops anything over 1 MB without reading it (bounded upload); between
        # 64 KB and 1 MB the server answers with the size limit.
        max_size=16 * cf.MAX_UPLOAD_BYTES,
        multiple=False,
        className="btn btn-sm btn-outline-secondary cfg-upload",
        className_active="cfg-upload-active",
    )
    return html.Div(
        [
            html.Div(
                [
                    html.H2("Plan a run", className="cfg-title"),
                    html.Span("", id=ids.CFG_SUMMARY, className=SUMMARY_CLASS),
                ],
                className="cfg-title-row",
            ),
            html.Div(
                [
                    dbc.Button(
                        "Apply to next run",
                        id=ids.CFG_APPLY_NEXT,
                        color="primary",
                        size="sm",
                        n_clicks=0,
                        title="Use this config when the Training tab starts a new run",
                    ),
                    dbc.Button(
                        "Apply now",
                        id=ids.CFG_APPLY_NOW,
                        color="outline-primary",
                        size="sm",
                        n_clicks=0,
                        disabled=True,
                        title="Change the running or paused run from its next step (only "
                        "settings a real trainer can change on resume: "
                        + ", ".join(sorted(sim.MUTABLE_FIELDS))
                        + ")",
                    ),
                    dbc.Button(
                        "Reset to preset",
                        id=ids.CFG_RESET,
                        color="outline-secondary",
                        size="sm",
                        n_clicks=0,
                    ),
                    html.Span(className="cfg-sep", **{"aria-hidden": "true"}),
                    dbc.Button(
                        "⤓ Save JSON",
                        id=ids.CFG_SAVE,
                        color="outline-secondary",
                        size="sm",
                        n_clicks=0,
                    ),
                    upload,
                    dcc.Download(id=ids.CFG_DOWNLOAD),
                ],
                className="cfg-actions",
            ),
        ],
        className="cfg-toolbar",
    )


def _estimate_card() -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    html.H3("Estimate", className="cfg-card-title"), className="cfg-card-header"
                ),
                html.Div(id=ids.CFG_FORM_ERROR),
                html.Div(id=ids.CFG_ESTIMATE, className="cfg-stats"),
            ]
        ),
        class_name="cfg-card",
    )


def _memory_card() -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [
                        html.H3("Memory per GPU", className="cfg-card-title"),
                        html.Span("", id=ids.CFG_MEMORY_TEXT, className="cfg-memory-text num"),
                    ],
                    className="cfg-card-header",
                ),
                dcc.Graph(
                    id=ids.CFG_MEMORY,
                    figure=fc.empty_figure(""),
                    config={"displayModeBar": False, "responsive": True},
                    style={"height": "150px"},
                ),
                html.Div(id=ids.CFG_FIT),
            ]
        ),
        class_name="cfg-card",
    )


def _share_card() -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(html.H3("Share", className="cfg-card-title"), className="cfg-card-header"),
                dbc.InputGroup(
                    [
                        dbc.Input(
                            id=ids.CFG_LINK,
                            readonly=True,
                            value="",
                            class_name="num cfg-link",
                            name="config-link",
                        ),
                        dbc.InputGroupText(
                            dcc.Clipboard(
                                id=ids.CFG_COPY,
                                target_id=ids.CFG_LINK,
                                title="Copy link",
                                className="cfg-copy",
                            )
                        ),
                    ],
                    size="sm",
                ),
                html.Div(
                    "The link opens this exact configuration (only settings that differ "
                    "from the preset are in it).",
                    className="cfg-hint",
                ),
            ]
        ),
        class_name="cfg-card",
    )


def layout() -> html.Div:
    """The tab's content: the same tree on every call; values come from the callbacks."""
    sections = {key: (title, fields) for key, title, fields in cf.SECTIONS}
    left = [
        _model_card(),
        _card("data", sections["data"][0], [_grid(sections["data"][1])]),
        _optimizer_card(),
        _schedule_card(),
        _card("hardware", sections["hardware"][0], [_grid(sections["hardware"][1])]),
        _card("run", sections["run"][0], [_grid(sections["run"][1])]),
    ]
    right = [_estimate_card(), _memory_card(), _share_card()]
    return html.Div(
        [
            dcc.Store(id=ids.CFG_ADVICE_STORE, storage_type="memory"),
            _actions(),
            html.Div(id=ids.CFG_MESSAGE, className="cfg-message", role="status"),
            dbc.Row(
                [
                    dbc.Col(left, lg=7, className="cfg-col"),
                    dbc.Col(html.Div(right, className="cfg-sticky"), lg=5, className="cfg-col"),
                ],
                class_name="g-3",
            ),
        ],
        className="cfg-tab",
    )


# ------------------------------------------------------------------------------- views


def fmt_duration(seconds: float) -> str:
    """3.2 days, 5.1 h, 12 min: the unit a planner thinks in."""
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:,.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.1f} s"


def fmt_money(x: float) -> str:
    if x >= 1e6:
        return f"${x / 1e6:,.2f}M"
    if x >= 1e4:
        return f"${x / 1e3:,.0f}K"
    return f"${x:,.0f}" if x >= 100 else f"${x:,.2f}"


def fmt_flops(x: float) -> str:
    exp = math.floor(math.log10(x)) if x > 0 else 0
    return f"{x / 10**exp:.2f}e{exp}"


def fmt_energy(kwh: float) -> str:
    if kwh >= 1e3:
        return f"{kwh / 1e3:,.1f} MWh"
    return f"{kwh:,.1f} kWh"


def fmt_mass(kg: float) -> str:
    if kg >= 1e3:
        return f"{kg / 1e3:,.1f} t"
    return f"{kg:,.1f} kg"


def _stat(label: str, value: str, sub: str = "", tip: str = "", key: str = "") -> html.Div:
    return html.Div(
        [
            html.Div([label, *_tip(f"stat-{key}", tip)], className="cfg-stat-label"),
            html.Div(value, className="cfg-stat-value num"),
            html.Div(sub, className="cfg-stat-sub"),
        ],
        className="cfg-stat",
        **{"data-stat": key},
    )


TOKENS_PER_PARAM_TIP = (
    "Training tokens per parameter. Hoffmann et al. 2022 (Chinchilla) found about 20 "
    "compute-optimal: for a fixed FLOP budget, loss is lowest near that ratio. Models meant "
    "for cheap inference (LLaMA, Llama 2) train far past it on purpose."
)
MFU_TIP = cf.FIELDS["mfu"].tip


def estimate_view(cfg: sim.TrainingConfig, est: sim.Estimate) -> list[html.Div]:
    """The estimate tiles for a valid config."""
    gpu = sim.GPUS[cfg.gpu]
    ratio = est.tokens_per_param
    opt_ratio = est.optimal_tokens_per_param
    if ratio > 2 * opt_ratio:
        verdict = f"{ratio / opt_ratio:.1f}× past it (inference-friendly)"
    elif ratio < opt_ratio / 2:
        verdict = "under-trained for its size"
    else:
        verdict = "near compute-optimal"
    mfu_sub = "override" if cfg.mfu is not None else f"modelled · {gpu.name}"
    return [
        _stat(
            "Parameters",
            cf.format_count(est.params),
            f"{cfg.arch.n_layers} layers · d {cfg.arch.d_model:,}",
            key="params",
        ),
        _stat(
            "Tokens",
            cf.format_count(est.tokens),
            f"{cf.format_count(cfg.dataset_tokens)} × {cfg.epochs:g} epoch"
            + ("s" if cfg.epochs != 1 else ""),
            key="tokens",
        ),
        _stat(
            "Steps",
            f"{est.steps:,}",
            f"grad accum × {est.grad_accum} · {fmt_duration(est.step_seconds)}/step",
            key="steps",
        ),
        _stat(
            "Compute",
            f"{fmt_flops(est.total_flops)} FLOP",
            f"{cf.format_count(est.flops_per_token)} FLOP/token",
            key="flops",
        ),
        _stat(
            "Throughput",
            f"{cf.format_count(est.tokens_per_second)} tok/s",
            f"{cf.format_count(est.tokens_per_second / cfg.num_gpus)} tok/s per GPU",
            key="tps",
        ),
        _stat("MFU", f"{est.mfu * 100:.1f}%", mfu_sub, MFU_TIP, key="mfu"),
        _stat(
            "Wall time",
            fmt_duration(est.wall_seconds),
            f"on {cfg.num_gpus:,} × {gpu.name}",
            key="wall",
        ),
        _stat("GPU-hours", cf.format_count(est.gpu_hours), "", key="gpuh"),
        _stat(
            "Cost",
            fmt_money(est.cost_usd),
            f"at ${est.price_per_gpu_hour:.2f}/GPU-h"
            + (" (override)" if cfg.price_per_gpu_hour is not None else ""),
            key="cost",
        ),
        _stat("Energy", fmt_energy(est.energy_kwh), "board power × PUE 1.1", key="energy"),
        _stat("CO₂e", fmt_mass(est.co2_kg), "at 0.385 kg/kWh", key="co2"),
        _stat(
            "Tokens / param",
            f"{ratio:,.1f}",
            f"optimal ≈ {opt_ratio:.0f} at this compute (rule of thumb 20) · {verdict}",
            TOKENS_PER_PARAM_TIP,
            key="tpp",
        ),
        _stat(
            "Chinchilla-optimal",
            f"{cf.format_count(est.optimal_params)} params",
            f"on {cf.format_count(est.optimal_tokens)} tokens for the same compute",
            key="optimal",
        ),
    ]


def memory_text(est: sim.Estimate) -> str:
    return f"{est.memory_total / 1e9:.1f} / {est.memory_capacity / 1e9:g} GB"


def fit_view(est: sim.Estimate, advice: list[sim.FitAdvice]) -> list[Any]:
    """Nothing when it fits; otherwise the warning and one button per suggestion."""
    if est.fits:
        return [
            html.Div(
                f"Fits: {est.memory_total / est.memory_capacity * 100:.0f}% of each GPU's memory.",
                className="cfg-fits",
            )
        ]
    over = (est.memory_total - est.memory_capacity) / 1e9
    items = []
    for i, a in enumerate(advice):
        button = (
            dbc.Button(
                "Apply",
                id=ids.cfg_advice(i),
                size="sm",
                color="outline-primary",
                n_clicks=0,
                class_name="cfg-advice-btn",
            )
            if a.changes
            else None
        )
        need = f" → {a.memory_total / 1e9:.1f} GB" if a.changes else ""
        items.append(html.Li([html.Span(a.text + need), button], className="cfg-advice"))
    return [
        dbc.Alert(
            [
                html.Strong("Does not fit: "),
                f"needs {est.memory_total / 1e9:.1f} GB per GPU, {over:.1f} GB more than the "
                f"{est.memory_capacity / 1e9:g} GB available. The run would stop with "
                "out-of-memory at step 0.",
                html.Ul(items, className="cfg-advice-list"),
            ],
            color="danger",
            class_name="cfg-nofit mb-0",
        )
    ]


def hints(cfg: sim.TrainingConfig | None, est: sim.Estimate | None) -> dict[str, str]:
    """Each field's line under the input: what it means for this config, then its range."""
    bounds = {name: cf.bound_text(f) for name, f in cf.FIELDS.items()}
    if cfg is None or est is None:
        return bounds
    d: dict[str, str] = {}
    d["global_batch_tokens"] = (
        f"= {cfg.sequences_per_batch:,} sequences × {cfg.seq_len:,} "
        f"({cf.format_count(cfg.global_batch_tokens)})"
    )
    d["micro_batch_size"] = (
        f"grad accumulation × {cfg.grad_accum} over {cfg.data_parallel:,} data-parallel GPUs"
    )
    epochs = f"{cfg.epochs:g} epoch" + ("" if cfg.epochs == 1 else "s")
    d["dataset_tokens"] = f"× {epochs} = {cf.format_count(est.tokens)} tokens"
    d["warmup_steps"] = f"{cfg.warmup_steps / est.steps * 100:.2g}% of {est.steps:,} steps"
    d["num_gpus"] = f"{cfg.data_parallel:,} data parallel × {cfg.tensor_parallel} tensor"
    if cfg.lr_peak > 0:
        d["lr_min"] = f"{cfg.lr_min / cfg.lr_peak * 100:.3g}% of peak"
    d["lr_peak"] = sim.SCHEDULES[cfg.schedule].name
    if cfg.mfu is None:
        d["mfu"] = f"blank = modelled {est.mfu * 100:.1f}%"
    if cfg.price_per_gpu_hour is None:
        d["price_per_gpu_hour"] = f"blank = list ${sim.GPUS[cfg.gpu].price_per_hour:.2f}"
    if cfg.eval_interval is None:
        d["eval_interval"] = f"blank = every {cfg.resolved_eval_interval:,}"
    if cfg.checkpoint_interval is None:
        d["checkpoint_interval"] = f"blank = every {cfg.resolved_checkpoint_interval:,}"
    d["base_tokens"] = "from scratch" if cfg.base_tokens == 0 else "continues a checkpoint"
    d["zero_stage"] = "shards training state over the data-parallel GPUs"
    d["activation_checkpointing"] = "less activation memory for ~33% more compute"
    out = {}
    for name, bound in bounds.items():
        derived = d.get(name)
        out[name] = f"{derived} · range {bound}" if derived and bound else derived or bound
    return out
