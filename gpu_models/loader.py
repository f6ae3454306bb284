"""Strict TOML loading: every figure is ``{ value, unit, source }``.

An unknown key, a missing key, a bad unit or a non-positive value is a
``HardwareError`` naming the file and the key; so is any broken invariant of
the spec it builds.
"""

import math
import re
import tomllib
from functools import lru_cache
from importlib import resources
from pathlib import Path

from gpu_models.schema import OPTIONAL, PLAUSIBLE, SCHEMAS, TABLES, ZERO_ALLOWED
from gpu_models.spec import HardwareError, locked_clock
from gpu_models.units import MAX_STORED, MIN_STORED, UNITLESS, UNITS, to_stored, units_of

_FIGURE_FIELDS = ("value", "unit", "source")


def bundled_names() -> list[str]:
    """Names of the machines that ship with attnsim (``specs/<name>.toml``)."""
    specs = resources.files("gpu_models").joinpath("specs")
    return sorted(p.name.removesuffix(".toml") for p in specs.iterdir() if p.name.endswith(".toml"))


# NAME:MHZ (or NAME:MHZmhz): the machine with its SMs locked at MHZ; a machine's own name holds no ':' (NAME below)
_LOCKED = re.compile(r"(?P<machine>.+):(?P<mhz>\d+(?:\.\d+)?)(?:mhz)?", re.IGNORECASE)


def split_clock(name_or_path: str) -> tuple[str, float | None]:
    """``h100:1500`` as ('h100', 1500.0): the machine and the SM clock it is locked at (None: free clocks)."""
    m = _LOCKED.fullmatch(name_or_path.strip()) if isinstance(name_or_path, str) else None
    return (m["machine"], float(m["mhz"])) if m else (name_or_path, None)


def is_machine(text: str) -> bool:
    """Whether ``text`` names a machine: a bundled name, a TOML path, either with a locked clock (``:MHZ``)."""
    machine = split_clock(text)[0]
    return machine.lower() in bundled_names() or machine.endswith(".toml")


def is_path(name: str) -> bool:
    """Whether a machine name is a user's TOML path (it ends in .toml or holds a /), not a bundled model's name."""
    return name.endswith(".toml") or "/" in name


def spec_path(name_or_path: str) -> Path:
    """The TOML behind a bundled name (any case) or a user's path (ends in .toml or holds a /)."""
    machine, mhz = split_clock(name_or_path)
    if mhz is not None and is_machine(machine):
        raise HardwareError(f"{name_or_path!r} is {machine} with its SMs locked at {mhz:g} MHz, a machine to predict "
                            f"on; here give the machine's own name or TOML ({machine})")
    if is_path(name_or_path):
        path = Path(name_or_path).expanduser()
        if path.is_dir():
            raise HardwareError(f"hardware file {name_or_path!r} is a directory: give a .toml file")
        if not path.is_file():
            raise HardwareError(f"no such hardware file {name_or_path!r}" + (
                "" if not path.exists() else ": not a regular file; give a .toml file"))
        return path
    if name_or_path.lower() not in bundled_names():
        from gpu_models.devices import device_hint  # devices reads bundled_names from here

        raise HardwareError(f"unknown hardware {name_or_path!r}: allowed {', '.join(bundled_names())} "
                            "or a path to a .toml file, either with :MHZ for SMs locked at that clock (h100:1500)"
                            + device_hint(name_or_path))
    return Path(str(resources.files("gpu_models").joinpath("specs", f"{name_or_path.lower()}.toml")))


def load_hardware(name_or_path: str):
    """A ``GPUSpec`` or ``AcceleratorSpec`` from a bundled name or a TOML path; ``NAME:MHZ`` is the GPU with its SMs
    locked at MHZ (``spec.locked_clock``)."""
    machine, mhz = split_clock(name_or_path)
    if mhz is not None:
        if split_clock(machine)[1] is not None:
            raise HardwareError(f"bad hardware {name_or_path!r}: one locked clock, NAME:MHZ (h100:1500)")
        return locked_clock(load_hardware(machine), mhz, name_or_path.strip())
    path = spec_path(name_or_path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # a byte-order mark dropped
    except (OSError, UnicodeDecodeError) as err:
        raise HardwareError(f"{path.name}: cannot read it ({err})") from None
    except tomllib.TOMLDecodeError as err:
        raise HardwareError(f"{path.name}: not valid TOML ({err})") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise HardwareError(f"{path.name}: not valid TOML (arrays or tables nested too deeply)") from None
    spec = _build(path.name, raw)
    _check_own_name(name_or_path, path, spec.name)
    return spec


def _check_own_name(given: str, path: Path, name: str) -> None:
    """A user's TOML bearing a bundled model's name is refused: its rows would read as that model's (hardware=a100
    with an H100's numbers), and a row fed back by name (--from) would price the bundled model instead."""
    if name.lower() not in bundled_names() or path.resolve() == spec_path(name.lower()).resolve():
        return  # a name of its own, or the bundled model's own file
    raise HardwareError(f"hardware file {given!r} is named {name!r}, the name of a bundled model: pick another name "
                        f"for it (its `name` line, e.g. name = \"my-{name.lower()}\")")


def _build(fname: str, raw: dict):
    """The spec a parsed TOML document describes; ``fname`` names it in errors."""
    if "kind" not in raw:  # as any other missing key (an empty file too): the kind picks which keys the rest are
        raise HardwareError(f"{fname}: missing key kind ('gpu' or 'accelerator')")
    kind = raw["kind"]
    if not isinstance(kind, str) or kind not in SCHEMAS:  # a table or list is no kind (and unhashable)
        raise HardwareError(f"{fname}: kind must be 'gpu' or 'accelerator', got {kind!r:.50}")
    cls, schema = SCHEMAS[kind]
    _check_keys(fname, raw, schema)
    values, sources = {}, {}
    for key, entry in raw.items():
        dim = schema[key]
        if dim == "text":
            values[key] = _name(fname, entry) if key == "name" else _text(fname, key, entry)
        elif key in TABLES:
            values[key] = {sub: _figure(fname, f"{key}.{sub}", fig, dim, sources) for sub, fig in _table(fname, key, entry)}
        elif dim == "ops":
            values[key] = tuple(_ops(fname, key, entry, sources))
        elif dim == "machine":
            values[key] = _machine(fname, key, entry, sources)
        else:
            values[key] = _figure(fname, key, entry, dim, sources)
    try:
        return cls(**values, sources=sources)
    except HardwareError as err:
        raise HardwareError(f"{fname}: {err}") from None


def _check_keys(fname: str, raw: dict, schema: dict) -> None:
    unknown = [key for key in raw if key not in schema]
    if unknown:
        raise HardwareError(f"{fname}: unknown key {unknown[0]!r}; allowed: {', '.join(schema)}")
    missing = [key for key in schema if key not in raw and key not in OPTIONAL]
    if missing:
        raise HardwareError(f"{fname}: missing key{'s' if len(missing) > 1 else ''} {', '.join(missing)}")


def _text(fname: str, key: str, entry) -> str:
    if not isinstance(entry, str) or not entry.strip():
        raise HardwareError(f"{fname}: {key} must be a non-empty string, got {entry!r}")
    return entry


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")  # typed in --hw lists, baselines (algo@NAME) and CSV cells


def _name(fname: str, entry) -> str:
    """The machine's short name: no comma, '@', space, newline or markup, which would break lists and tables."""
    if not isinstance(entry, str) or not NAME.fullmatch(entry):
        raise HardwareError(f"{fname}: name must be 1-64 letters, digits, '.', '_', '+' or '-' (starting with a letter "
                            f"or digit), got {entry!r:.50}")
    return entry


def _table(fname: str, key: str, entry) -> list:
    if not isinstance(entry, dict) or "value" in entry or not entry:
        raise HardwareError(f"{fname}: {key} must be a table of figures, one per key "
                            f"({', '.join(TABLES[key])}), e.g. [{key}]")
    unknown = [sub for sub in entry if sub not in TABLES[key]]
    if unknown:
        raise HardwareError(f"{fname}: unknown key {key}.{unknown[0]}; allowed: {', '.join(TABLES[key])}")
    return list(entry.items())


def _entry(fname: str, key: str, entry, sources: dict):
    """The ``value`` of a ``{ value, unit, source }`` table, after checking its shape; records the source."""
    if not isinstance(entry, dict) or "value" not in entry:
        raise HardwareError(f"{fname}: {key} must be an inline table {{ value = ..., unit = ..., source = ... }}")
    extra = [f for f in entry if f not in _FIGURE_FIELDS]
    if extra:
        raise HardwareError(f"{fname}: {key} has unknown field {extra[0]!r}; allowed: {', '.join(_FIGURE_FIELDS)}")
    source = entry.get("source")
    if not isinstance(source, str) or not source.strip():
        raise HardwareError(f"{fname}: {key} needs a source (datasheet, paper table, or 'assumed: <why>')")
    sources[key] = source
    return entry["value"]


def _machine(fname: str, key: str, entry, sources: dict) -> str:
    """A bundled accelerator's name (``baseline_machine``: where this machine's default baseline runs). A file is not
    taken here: a row names its baseline machine by name, and a user's own FLAT file is --baseline unfused@FILE."""
    value = _entry(fname, key, entry, sources)
    accelerators = [n for n in bundled_names() if _bundled_kind(n) == "accelerator"]
    if "unit" in entry or not isinstance(value, str) or value.lower() not in accelerators:
        raise HardwareError(f"{fname}: {key} must be {{ value = NAME, source = ... }} with NAME a bundled accelerator "
                            f"({', '.join(accelerators)}), got {value!r:.50}; for a machine of your own, leave "
                            f"{key} out and pass --baseline unfused@FILE.toml")
    return value.lower()


@lru_cache(maxsize=None)
def _bundled_kind(name: str):
    """The ``kind`` line of a bundled spec, read without building it (a baseline machine names another spec)."""
    raw = tomllib.loads(spec_path(name).read_text(encoding="utf-8-sig"))
    return raw.get("kind")


def _figure(fname: str, key: str, entry, dim: str, sources: dict) -> int | float:
    value = _entry(fname, key, entry, sources)
    unit = entry.get("unit", dim if dim in UNITLESS else None)
    if unit is None:
        raise HardwareError(f"{fname}: {key} needs a unit: one of {', '.join(units_of(dim))}")
    if unit not in UNITS or UNITS[unit][0] != dim:
        raise HardwareError(f"{fname}: {key} has bad unit {unit!r}; allowed: {', '.join(units_of(dim))}")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0 \
            or (value == 0 and key not in ZERO_ALLOWED):
        allowed = "a number >= 0" if key in ZERO_ALLOWED else "a positive number"
        raise HardwareError(f"{fname}: {key} must be {allowed}, got {value!r}")
    stored = to_stored(value, unit)
    top = MAX_STORED.get(dim, math.inf)  # fractions: the spec checks (0, 1]
    if stored > top or 0 < stored < MIN_STORED:
        raise HardwareError(f"{fname}: {key} = {value!r} {unit} is out of range: between {MIN_STORED:g} and "
                            f"{top:.4g} {_stored_unit(dim)}")
    _check_plausible(fname, key, value, unit, stored)
    return stored


def _check_plausible(fname: str, key: str, value, unit: str, stored) -> None:
    """A figure past what any machine can have (``schema.PLAUSIBLE``) is a slip of the unit, named with the bound."""
    bound = PLAUSIBLE.get(key.partition(".")[0])
    if bound is None:
        return
    text, why = bound
    top, top_unit = text.split()
    if stored > to_stored(int(top), top_unit):
        raise HardwareError(f"{fname}: {key} = {value!r} {unit} is past any machine: allowed at most "
                            f"{text.removesuffix(' count')} ({why})")


def _stored_unit(dim: str) -> str:
    """The unit values of ``dim`` are stored in (its factor-1 unit)."""
    return next((u for u, (d, factor) in UNITS.items() if d == dim and str(factor) == "1"), dim)


def _ops(fname: str, key: str, entry, sources: dict) -> list[str]:
    value = _entry(fname, key, entry, sources)
    if "unit" in entry or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HardwareError(f"{fname}: {key} must be {{ value = [op classes ...], source = ... }} with no unit")
    return value
