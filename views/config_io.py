"""A config outside the page: the shareable link (``?config=``) and the JSON file.

Owns both formats and their limits. A link carries only the settings that differ from the
model's preset (URL-safe base64 of compact JSON), so it stays short; a file is
``TrainingConfig.to_dict()`` as indented JSON (what Save writes and Load reads; a saved run
state is accepted for its config). Both come from outside and are read trusting nothing
(docs/architecture.md, "Trust nothing from the browser"): size first, then JSON without
NaN/Infinity or huge numbers, bounded nesting, then ``TrainingConfig.from_dict``. Every
refusal is a ``FormError`` whose message says why, for the page to show.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

import simulator as sim
from views.config_form import CUSTOM, FormError
from views.stores import DEFAULT_MODEL

MAX_UPLOAD_BYTES = 64 * 1024
MAX_LINK_CHARS = 4096  # the ?config= value; a full config is ~700 characters encoded
MAX_DEPTH = 4  # a config nests two levels (custom_model; optimizer_params in older files)
MAX_HREF = 2048  # a page address longer than this is not used as the link's base


def base_config(model: str) -> sim.TrainingConfig:
    """What a link's or file's missing settings default to: the model's preset."""
    if model in sim.PRESETS:
        return sim.preset(model)
    return sim.TrainingConfig()


def config_diff(cfg: sim.TrainingConfig) -> dict[str, Any]:
    """The settings of ``cfg`` that differ from its model's preset (always with ``model``)."""
    base = base_config(cfg.model).to_dict()
    full = cfg.to_dict()
    diff = {k: v for k, v in full.items() if base.get(k) != v}
    diff["model"] = cfg.model
    return diff


def encode_link(cfg: sim.TrainingConfig) -> str:
    """The ``?config=`` value: URL-safe base64 (unpadded) of the compact JSON diff."""
    text = json.dumps(config_diff(cfg), separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _depth(obj: Any, level: int = 1) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(obj, dict):
        return max([level, *(_depth(v, level + 1) for v in obj.values())])
    if isinstance(obj, list):
        return max([level, *(_depth(v, level + 1) for v in obj)])
    return level


def _reject_constant(name: str) -> float:
    raise FormError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise FormError(f"{text[:20]} is too large")
    return value


def parse_json_config(text: str, *, partial: bool) -> sim.TrainingConfig:
    """A config from JSON text, trusting nothing.

    ``partial``: missing settings take the model's preset (links); otherwise the defaults of
    ``TrainingConfig.from_dict`` (files; our files always hold every setting). A saved run
    state (``{"config": {...}, ...}``) is accepted for its config.

    Raises:
        FormError: with a message for the user.
    """
    try:
        data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except FormError:
        raise
    except RecursionError:
        raise FormError("it is nested far too deeply to be a config") from None
    except ValueError as exc:
        raise FormError(f"it is not valid JSON ({str(exc)[:80]})") from None
    if _depth(data) > MAX_DEPTH:
        raise FormError("it is nested too deeply to be a config")
    if not isinstance(data, dict):
        raise FormError(f"it holds a JSON {type(data).__name__}, not a config object")
    if "model" not in data and isinstance(data.get("config"), dict) and "version" in data:
        data = data["config"]
    try:
        if partial:
            model = data.get("model", DEFAULT_MODEL)
            if not isinstance(model, str):
                raise sim.ConfigError("model", model, "a model name")
            merged = base_config(model).to_dict()
            merged.update(data)
            if model != CUSTOM and "custom_model" not in data:
                merged["custom_model"] = None
            data = merged
        return sim.TrainingConfig.from_dict(data)
    except sim.ConfigError as exc:
        raise FormError(str(exc)) from None
    except (TypeError, ValueError) as exc:
        raise FormError(f"a setting has the wrong type ({str(exc)[:80]})") from None


def decode_link(search: Any) -> sim.TrainingConfig | None:
    """The config in a URL query (``?config=...``), or None when there is none.

    Raises:
        FormError: the query has a config that cannot be used.
    """
    if not isinstance(search, str) or "config=" not in search:
        return None
    if len(search) > MAX_LINK_CHARS:
        raise FormError("the link's config is too long")
    value = ""
    for part in search.lstrip("?").split("&"):
        if part.startswith("config="):
            value = part[len("config=") :]
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        raise FormError("the link's config is not readable (damaged or cut short?)") from None
    return parse_json_config(text, partial=True)


def decode_upload(contents: Any, filename: Any = None) -> sim.TrainingConfig:
    """The config in an uploaded file (``dcc.Upload`` contents: a base64 data URL).

    Raises:
        FormError: the file is too large, not JSON, not a config, or has a bad setting.
    """
    if not isinstance(contents, str) or "," not in contents[:200]:
        raise FormError("the upload did not arrive as a file")
    payload = contents.split(",", 1)[1]
    if len(payload) > MAX_UPLOAD_BYTES * 4 // 3 + 8:
        raise FormError(f"it is larger than {MAX_UPLOAD_BYTES // 1024} KB")
    try:
        raw = base64.b64decode(payload, validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        raise FormError("it is not a UTF-8 text file") from None
    return parse_json_config(text, partial=False)


def config_file(cfg: sim.TrainingConfig) -> str:
    """The saved file: ``TrainingConfig.to_dict()`` as indented JSON (what upload reads)."""
    return json.dumps(cfg.to_dict(), indent=2)


def file_name(cfg: sim.TrainingConfig) -> str:
    """``{model}-{num_gpus}x{gpu}.config.json``: what Save names the file."""
    return f"{cfg.model}-{cfg.num_gpus}x{cfg.gpu}.config.json"


def link_for(href: Any, cfg: sim.TrainingConfig) -> str:
    """The shareable URL of ``cfg`` on this page (relative when the page URL is unusable)."""
    base = "/"
    if isinstance(href, str) and len(href) < MAX_HREF and href.startswith(("http://", "https://")):
        base = href.split("#", 1)[0].split("?", 1)[0]
    return f"{base}?config={encode_link(cfg)}#configuration"
