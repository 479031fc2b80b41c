"""The report's figures: matplotlib drawings of what :mod:`populate.report_data` returns.

Each ``draw_*`` takes a figure's data and a path, writes the PNG and returns (path, the
numbers plotted), which :mod:`populate.report` also writes as CSV.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on workers or in tests
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

COLOURS = {"Baseline": "black", "Oracle": "tab:blue", "MTL-Monkey": "tab:orange", "MTL-Oracle": "tab:purple",
           "MTL-Shuffled": "tab:gray"}


def _save(fig, path: Path) -> str:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return str(path)


def draw_fig3a(data: dict, path: Path):
    families, categories, by = data["families"], data["categories"], data["scores"]
    fig, ax = plt.subplots(figsize=(1.6 * len(categories) + 2, 3.5))
    width = 0.8 / len(families)
    for i, family in enumerate(families):
        xs, ys, err = [], [], [[], []]
        for j, category in enumerate(categories):
            r = by.get((family, category))
            if r is None:
                continue
            xs.append(j + (i - (len(families) - 1) / 2) * width)
            ys.append(r["score"])
            # an interval may be NULL (undefined bootstrap): draw the bar without it
            err[0].append(r["score"] - r["score_low"] if r["score_low"] is not None else 0.0)
            err[1].append(r["score_high"] - r["score"] if r["score_high"] is not None else 0.0)
        ax.bar(xs, ys, width, yerr=err, capsize=2, label=family, color=COLOURS.get(family))
    ax.axhline(1.0, color="k", lw=0.5, ls="--")
    ax.set_xticks(range(len(categories)), categories)
    ax.set_ylabel("robustness (vs Baseline)")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path), {f"{f}/{c}": by[(f, c)]["score"] for f, c in by}


def draw_fig3b(rows: dict, path: Path):
    families = list(rows)
    scores = [rows[f]["score"] for f in families]
    err = [[rows[f]["score"] - rows[f]["score_low"] for f in families], [rows[f]["score_high"] - rows[f]["score"] for f in families]]
    fig, ax = plt.subplots(figsize=(0.9 * len(families) + 2, 3.5))
    ax.bar(range(len(families)), scores, yerr=err, capsize=3, color=[COLOURS.get(f, "tab:green") for f in families])
    ax.axhline(1.0, color="k", lw=0.5, ls="--")
    ax.set_xticks(range(len(families)), families, rotation=30, ha="right")
    ax.set_ylabel("robustness (vs Baseline)")
    return _save(fig, path), {f: rows[f]["score"] for f in families}


def draw_fig3c(regressions: list[dict], path: Path):
    fig, axes = plt.subplots(1, len(regressions), figsize=(5 * len(regressions), 3.6), squeeze=False, layout="constrained")
    values = {}
    for ax, reg in zip(axes[0], regressions):
        terms, x, y, acc = reg["terms"], reg["neural"], reg["robustness"], reg["clean_accuracy"]
        dots = ax.scatter(x, y, c=acc, cmap="viridis")
        fig.colorbar(dots, ax=ax, label="clean accuracy")
        line = np.linspace(x.min(), x.max(), 2)
        coef = {t: terms[t]["coefficient"] for t in terms}
        if coef["neural"] is None:  # rank-deficient design: no line the data determine
            title = f"{reg['family']}\nundetermined (design rank {reg['design_rank']} < 3)"
        else:
            ax.plot(line, coef["intercept"] + coef["clean_accuracy"] * acc.mean() + coef["neural"] * line, "k-", lw=1)
            title = f"{reg['family']}\nb_neural = {coef['neural']:.3g}, p = {terms['neural']['p']:.3g}"
        ax.set(xlabel=f"neural ({reg['neural_measure']})", ylabel="robustness", title=title)
        ax.title.set_fontsize(9)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))  # FEVe differences are small: keep ticks legible
        values[reg["family"]] = {"b_neural": coef["neural"], "p": terms["neural"]["p"], "r_squared": reg["r_squared"],
                                 "neural": x.tolist(), "robustness": y.tolist(), "clean_accuracy": acc.tolist()}
    return _save(fig, path), values


def draw_fig5(data: dict, path: Path):
    norms, models, images = data["norms"], data["models"], data["images"]
    fig, axes = plt.subplots(len(models), len(norms) + 1, figsize=(1.3 * (len(norms) + 1), 1.4 * len(models)), squeeze=False)
    values = {}
    for row, (family, model) in zip(axes, models.items()):
        row[0].imshow(data["target"], cmap="gray", vmin=0, vmax=255)
        row[0].set_ylabel(family, fontsize=7)
        values[family] = {"classifier_id": model["classifier_id"], "seed": model["seed"], "achieved_norm": {}}
        for ax, norm in zip(row[1:], norms):
            image = images[family].get((0, norm))
            if image is not None:
                ax.imshow(np.asarray(image["reconstruction"]), cmap="gray")
                values[family]["achieved_norm"][f"{norm:g}"] = image["achieved_norm"]
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    for ax, title in zip(axes[0], ["target"] + [f"r = {n:g}" for n in norms]):
        ax.set_title(title, fontsize=8)
    return _save(fig, path), values


def draw_fig7(data: dict, path: Path):
    y, xs, norms = data["y"], data["x"], data["norms"]
    styles = {"Oracle": "tab:blue", "Baseline": "black", "MTL-Monkey control": "tab:red"}
    fig, axes = plt.subplots(1, len(norms), figsize=(2.6 * len(norms), 2.9), squeeze=False, sharey=True)
    values = {}
    for ax, norm in zip(axes[0], norms):
        ax.plot([-1, 1], [-1, 1], color="0.6", lw=0.7)
        panel = {}
        for name, x in xs.items():
            shared = sorted(t for t, n in x if n == norm and (t, n) in y)
            if shared:
                ax.scatter([x[(t, norm)] for t in shared], [y[(t, norm)] for t in shared], s=14, color=styles[name], label=name)
            panel[name] = {"x": [x[(t, norm)] for t in shared], "y": [y[(t, norm)] for t in shared], "target_index": shared}
        values[f"{norm:g}"] = panel
        ax.set(title=f"r = {norm:g}", xlabel="normalised ratio (other)")
        ax.title.set_fontsize(9)
    axes[0][0].set_ylabel("normalised ratio (MTL-Monkey)")
    axes[0][-1].legend(fontsize=6)
    return _save(fig, path), values


def draw_fig6(data: dict, path: Path):
    row, image, density, mask = data["row"], data["image"], data["density"], data["mask"]
    fig, axes = plt.subplots(1, 3, figsize=(7, 2.6))
    panels = [(image, "image (64 px)", "gray"), (density, f"saliency ({row['saliency_model']})", "magma"),
              (np.where(mask, image, 0.0), f"masked: top pixels to density {data['level']:g}", "gray")]
    for ax, (picture, title, cmap) in zip(axes, panels):
        ax.imshow(picture, cmap=cmap)
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    values = {"saliency_set": row["saliency_set"], "image_id": row["image_id"], "saliency_model": row["saliency_model"],
              "salient_fraction": float(row["salient_fraction"]), "level": data["level"],
              "density_on_mask": float(density[mask].sum())}
    return _save(fig, path), values
