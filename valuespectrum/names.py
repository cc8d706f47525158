"""What a name may contain where it becomes part of an id, a file name or a Ray actor name.

One character set for every such name: a model's label, a platform's or sweep's name, a trial
id, a run scope, a vLLM replica's actor name, the viewer's run ids and file names. Each
caller decides what to strip or cut after `safe_name`.
"""

from __future__ import annotations

import re

#: The characters a safe name keeps.
SAFE_CHARS = r"A-Za-z0-9_.\-"
#: A name field that must already be safe (pydantic ``Field(pattern=...)``).
SAFE_NAME_PATTERN = rf"^[{SAFE_CHARS}]+$"
_UNSAFE_RUN = re.compile(rf"[^{SAFE_CHARS}]+")


def safe_name(text: str) -> str:
    """`text` with every run of other characters replaced by one ``-``.

    Example:
        >>> safe_name("Qwen/Qwen2-VL 7B")
        'Qwen-Qwen2-VL-7B'
    """
    return _UNSAFE_RUN.sub("-", text)


def slug(text: str) -> str:
    """`text` made safe for file names and Ray actor names, without leading or trailing ``-``."""
    return safe_name(text).strip("-")
