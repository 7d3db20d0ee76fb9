"""Argument checks for the engine's public functions, so that a bad argument gets MaskLab's own
message naming it (TypeError for the wrong kind of value, ValueError for a value out of range), not
whatever a library deep inside says about it. Also the sampling options' rules, which `engine.generate`,
`engine.score`, the command line and the app's links share. No torch: the link parser imports it.

>>> check_int("n_input", 3, minimum=0)
3
>>> check_int("n_input", 2.5)
Traceback (most recent call last):
...
TypeError: n_input must be a whole number (int), not float 2.5
"""

import math
import numbers
import os

# Below this temperature sampling is greedy, and is done as greedy: logits / T overflows float32
# (3.4e38) once a logit exceeds 3.4e38 * T, which temperatures like 1e-38 reach for any logit above 3,
# and long before that softmax(logits / T) puts all but nothing on the likeliest token (a logit gap
# of 0.01 nats at T = 1e-4 is odds of e^100 to 1, past float32's resolution of probabilities).
MIN_TEMPERATURE = 1e-4


def _shown(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:40] + '…'}"


def check_int(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int: TypeError for anything but a whole number (a bool, a float and None
    included), ValueError below ``minimum`` or above ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a whole number (int), not {_shown(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, not {value}")
    return value


def check_optional_int(name: str, value, *, minimum: int | None = None) -> int | None:
    return None if value is None else check_int(name, value, minimum=minimum)


def check_number(name: str, value, *, minimum: float | None = None) -> float:
    """``value`` as a finite float: TypeError for a non-number (a bool included), ValueError for NaN,
    an infinity or a value below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, not {_shown(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum:g}, not {value:g}")
    return value


def check_text(name: str, value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string (str), not {_shown(value)}")
    return value


def check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {_shown(value)}")
    return value


def check_name(name: str, value) -> str:
    """A non-empty name (a str, or a path for a folder or file)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string (str), not {_shown(value)}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    return value


def check_choice(name: str, value, options) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {', '.join(options)}; not {_shown(value)}")
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(options)}")
    return value


def check_temperature(temperature) -> float:
    """A sampling temperature: a finite number >= 0 (0 is greedy), else TypeError/ValueError naming it."""
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"temperature must be a number (0 for greedy), not {_shown(temperature)}")
    t = float(temperature)
    if math.isnan(t) or math.isinf(t):
        raise ValueError(f"temperature must be a finite number (0 for greedy), not {t}")
    if t < 0:
        raise ValueError(f"temperature must be 0 (greedy) or more, not {t:g}")
    return t


def is_greedy(temperature: float) -> bool:
    """Whether sampling at ``temperature`` is done greedily: 0, or too small to divide by (`MIN_TEMPERATURE`)."""
    return temperature < MIN_TEMPERATURE


def check_top_k(top_k, vocab_size: int | None = None) -> int:
    """``top_k`` as an int >= 0 (TypeError/ValueError naming it otherwise), clamped to ``vocab_size``."""
    k = check_int("top_k", top_k, minimum=0)
    return min(k, int(vocab_size)) if vocab_size is not None else k
