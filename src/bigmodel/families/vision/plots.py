"""The confusion matrix as a picture: rows are true classes, columns predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_confusion(confusion: np.ndarray, names: list[str], png: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    side = max(3.5, 0.45 * len(names) + 1.5)
    fig, ax = plt.subplots(figsize=(side + 0.8, side))
    shown = ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = confusion.max() / 2 if confusion.size else 0
    if len(names) <= 20:
        for (row, col), count in np.ndenumerate(confusion):
            ax.text(col, row, str(count), ha="center", va="center", fontsize=8,
                    color="white" if count > threshold else "black")
    fig.colorbar(shown, ax=ax, fraction=0.046)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png
