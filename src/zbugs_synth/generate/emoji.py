"""The reactions zbugs users pick, with the annotation zbugs stores beside each (the CLDR short
name its emoji picker shows), and how often each is picked: thumbs up dominates, as on GitHub."""

from __future__ import annotations

import numpy as np

from zbugs_synth.generate.layout import padded
from zbugs_synth.generate.small_tables import csv_field

# (value, annotation, relative weight)
EMOJI: tuple[tuple[str, str, float], ...] = (
    ("👍", "thumbs up", 40.0),
    ("❤️", "red heart", 10.0),
    ("🎉", "party popper", 9.0),
    ("👀", "eyes", 8.0),
    ("🚀", "rocket", 7.0),
    ("😄", "grinning face with smiling eyes", 5.0),
    ("😕", "confused face", 3.0),
    ("👎", "thumbs down", 3.0),
    ("🔥", "fire", 3.0),
    ("💯", "hundred points", 2.0),
    ("🙏", "folded hands", 2.0),
    ("😂", "face with tears of joy", 2.0),
    ("🤔", "thinking face", 2.0),
    ("👏", "clapping hands", 2.0),
    ("✅", "check mark button", 1.0),
    ("😍", "smiling face with heart-eyes", 1.0),
)


def value_cdf() -> np.ndarray:
    w = np.array([e[2] for e in EMOJI], dtype=np.float64)
    cdf = np.cumsum(w) / w.sum()
    cdf[-1] = 1.0
    return cdf


def value_pieces() -> tuple[np.ndarray, np.ndarray]:
    """The CSV text `value,annotation` of each emoji, concatenated (padded), and offsets [n + 1]."""
    parts = [f"{csv_field(v)},{csv_field(a)}".encode() for v, a, _ in EMOJI]
    off = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in parts], out=off[1:])
    return padded(b"".join(parts)), off
