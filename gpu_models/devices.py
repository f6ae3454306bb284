"""Which bundled model a device name is: torch's and nvidia-smi's names ('NVIDIA H100 80GB HBM3'), a user's spelling of
them ('h100-pcie', 'H100-PCIe'), or a part attnsim has no model of (an error naming why, never another part's model).
Used by `attnsim validate report` for a measured file's device column and by --hw for a pasted device name."""

from functools import lru_cache

from gpu_models.loader import bundled_names

# (needle, model): the first needle a device name (as torch / nvidia-smi print it) holds wins, so the longer names
# come first ('H20' is in 'NVIDIA H200' too). None: a part attnsim has no model of (an error, not another part's
# prediction): the H20-3e, an HBM3e part whose memory the H20's model, 96 GB of HBM3, does not describe; the H800
# PCIe and H800 NVL, PCIe cards the H800 SXM5's model (132 SMs, 80 GB of HBM3 at 3.35 TB/s) does not describe; the
# H100 NVL and H200 NVL, PCIe cards with their own memory, clocks and power; the GH200, whose HBM is its own; an A800
# other than the 80GB SXM4 and 80GB PCIe (the A800 40GB PCIe and 40GB Active); a MIG slice of a GPU's SMs and memory
# (torch prints 'NVIDIA H100 80GB HBM3 MIG 1g.10gb'); the A100-PCIE-40GB, HBM2 at 1,555 GB/s like the SXM4 40GB, at
# 250 W (not the 80GB SXM4's 2,039 GB/s; NVIDIA A100 Tensor Core GPU datasheet, 2021, the A100 40GB PCIe and 80GB
# SXM columns).
_DEVICE_HW = (("MIG", None), ("GB300", "gb300"), ("B300", "b300"), ("GB200", "gb200"), ("B200", "b200"), ("GH200", None), ("H200 NVL", None), ("H200", "h200"),
              ("H20-3e", None), ("H20", "h20"), ("H100 PCIe", "h100-pcie"), ("H100 NVL", None), ("H100", "h100"),
              ("H800 PCIe", None), ("H800 NVL", None), ("H800", "h800"), ("A800-SXM4-80GB", "a800"),
              ("A800 80GB PCIe", "a800-pcie"), ("A800", None), ("A100-SXM4-40GB", "a100-40gb"),
              ("A100 80GB PCIe", "a100-pcie"), ("A100-PCIE", None), ("40GB PCIe", None), ("A100", "a100"))


def device_hardware(name) -> str | None:
    """The bundled model of a device name as torch or nvidia-smi print it ('NVIDIA GB200', 'NVIDIA H100 PCIe'),
    in any case ('nvidia h100 80gb hbm3'), or a bundled model's own name as --hw spells it ('a100-pcie',
    'h100-pcie'; 'A100-PCIE' is the start of nvidia-smi's name for the A100 PCIe 40GB, which has no model); None
    for a device attnsim has no model of."""
    text = str(name or "").strip()
    if text in _models():  # the model's name, which the part-name rules below would misread
        return text
    part = _device_part(text)
    return part[1] if part else None


@lru_cache(maxsize=1)
def _models() -> frozenset:
    """The bundled models' names (a directory listing: read once, as a measured file calls this per row)."""
    return frozenset(bundled_names())


def _words(text) -> str:
    """A name in capitals with one space between words, '-' and '_' read as spaces ('H100-PCIe' -> 'H100 PCIE')."""
    return " ".join(str(text or "").upper().replace("-", " ").replace("_", " ").split())


_PARTS = tuple((_words(needle), needle, hw_name) for needle, hw_name in _DEVICE_HW)


def _device_part(name) -> tuple[str, str | None] | None:
    """(needle, model) of the first part name of ``_DEVICE_HW`` that ``name`` holds as whole words, in any case and
    spelling ('A100' is in 'NVIDIA A100-SXM4-80GB', not in 'A1000', another GPU)."""
    words = f" {_words(name)} "
    return next(((needle, hw_name) for key, needle, hw_name in _PARTS if f" {key} " in words), None)


_NO_MODEL_WHY = {"MIG": "a MIG instance: a slice of the GPU's SMs and memory",
                 "A800": "an A800 other than the 80GB SXM4 (a800) and 80GB PCIe (a800-pcie), the A100s' export twins: "
                         "the 40GB cards have other memory and power",
                 **dict.fromkeys(("A100-PCIE", "40GB PCIe"), "the A100 PCIe 40GB: HBM2 at 1,555 GB/s and 250 W, unlike "
                                                           "the bundled A100s; a100-40gb has its memory, a100-pcie a "
                                                           "PCIe card's power")}


def no_model_error(device: str) -> str:
    """Why a device name has no bundled model, and what to do, in one line."""
    needle = (_device_part(device) or (None, None))[0]
    why = (_NO_MODEL_WHY.get(needle, f"the {needle}, another part than any bundled model: its SMs, clocks or "
                                     "memory differ")
           if needle else f"the bundled models fit names holding {', '.join(n for n, m in _DEVICE_HW if m)}")
    return f"no bundled model of device {device!r} ({why})"


def device_hint(name: str) -> str:
    """What an unknown --hw that is a GPU's device name is ('NVIDIA H100 80GB HBM3', pasted from torch or
    nvidia-smi): '; ... is the device of the h100 model: use h100', why no model fits it, or '' for any other name."""
    if ":" in name:  # NAME:MHZ with a bad clock ('h100:abc'), not a device name: no device prints a ':'
        return ""
    if "," in name:  # a comma list where one machine is taken: no device prints a ','
        return "; this option takes one machine, not a comma list"
    hw_name = device_hardware(name)
    if hw_name:
        return f"; {name.strip()!r} is the device of the {hw_name} model: use {hw_name}"
    if _device_part(name):
        return f"; {no_model_error(name)}"
    import difflib

    close = difflib.get_close_matches(name.strip().lower(), sorted(_models()), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""
