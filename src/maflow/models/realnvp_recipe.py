"""Real NVP's recipes: what its arguments left at ``None`` become, and what a state dict was built as."""

from __future__ import annotations

__all__ = ["SCALES", "RECIPES", "with_recipe", "stored_form"]

SCALES = ("bounded", "softplus", "sigmoid", "exp")
# What an argument left at None becomes: the measured recipe of the bounded scale (with batch
# norm and D > 2) and of the softplus scale (otherwise, or asked for); docs/decisions.md,
# "Real NVP's bounded coupling". Every other scale takes the softplus column.
RECIPES = {
    "bounded": dict(
        mask="alternate",
        residual="linear",
        identity_start=False,
        final_batch_norm=False,
        near_zero_blocks=True,
    ),
    "softplus": dict(
        mask="random", residual=False, identity_start=True, final_batch_norm=True, near_zero_blocks=False
    ),
}


def with_recipe(config: dict) -> dict:
    """The constructor's arguments with every None replaced by its scale's recipe value.

    The result is what the model stores, so a checkpoint rebuilds the same model whatever the
    defaults become. A configuration from before an argument existed (no key) reads as the
    recipe of its stored scale, which is what that model was built with.

    Example:
        >>> config = with_recipe({"features": 6, "scale": None, "batch_norm": True})
        >>> config["scale"], config["mask"], config["final_batch_norm"]
        ('bounded', 'alternate', False)
        >>> with_recipe({"features": 2, "scale": None, "batch_norm": True})["scale"]
        'softplus'
    """
    config = dict(config)
    if config.get("scale") is None:
        # D = 2: one input per conditioner, and the couplings must widen thin data themselves
        bounded = config.get("batch_norm", True) and config["features"] > 2
        config["scale"] = "bounded" if bounded else "softplus"
    recipe = RECIPES.get(config["scale"], RECIPES["softplus"])
    for name, value in recipe.items():
        if config.get(name) is None:
            config[name] = value
    if config["near_zero_blocks"] and not config["residual"]:
        config["near_zero_blocks"] = False  # the recipe's, for a residual form only
    return config


def stored_form(config: dict, state_dict, prefix: str) -> dict:
    """The scale and final batch norm of a state dict's weights.

    A state dict without ``scale_code`` predates it: two nets per layer are the exp form, one
    is softplus (the default of its day) unless the model was built with another non-default
    scale. Batch norm after the last layer is there if the last layer's keys are batch norm's.
    """
    code = state_dict.get(prefix + "scale_code")
    if code is not None:
        scale = SCALES[int(code)]
    elif any(key.startswith(prefix) and ".scale_net." in key for key in state_dict):
        scale = "exp"
    else:
        scale = "softplus" if config["scale"] == "bounded" else config["scale"]
    form: dict[str, str | bool] = {"scale": scale}
    if config["batch_norm"]:
        head = prefix + "transform.transforms."
        indices = [int(key[len(head) :].split(".")[0]) for key in state_dict if key.startswith(head)]
        if indices:
            form["final_batch_norm"] = f"{head}{max(indices)}.log_gamma" in state_dict
    return form
