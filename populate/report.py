"""``python -m populate report OUTDIR``: the paper's figures and tables from the database.

Every number plotted is read back through the DataJoint API, never from training logs:

* fig3a_categories.png: robustness per corruption category and family (``Robustness.PerCategory``);
* fig3b_overall.png: overall robustness per family with its bootstrap interval (``Robustness``);
* fig3c_regression.png: robustness against neural FEVe, coloured by clean accuracy, with the
  fitted plane at the mean clean accuracy (``RobustnessRegression`` and its parts);
* fig5_reconstructions.png: reconstructions of a noisy test image under each norm constraint,
  one row per family (``Reconstruction.Image``);
* fig6_saliency_mask.png: one saliency image, its density and its salient mask (``SaliencyMap.Image``);
* fig7_saliency.png: normalised norm ratios of the MTL-Monkey reconstructions against the
  Oracle's, the Baseline's and their own spectral controls (``SaliencyNormRatio.Image``);
* a table of neural performance (``NeuralModel * NeuralEvaluation``).

Each figure's numbers are also written beside its PNG as ``<figure>.csv`` (quantity, value).

``index.html`` lists them with captions that say which experiment (profile) and which
recordings (virtual or real monkey) they come from. A figure without data is skipped with
a note. :func:`write_report` returns the plotted numbers, so tests compare them with the
database.
"""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on workers or in tests
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

SWEEP_SUFFIX = "ratio sweep"
#: the paper's order of families; others follow alphabetically
FAMILY_ORDER = ("Baseline", "Oracle", "MTL-Monkey", "MTL-Oracle", "MTL-Shuffled")
COLOURS = {"Baseline": "black", "Oracle": "tab:blue", "MTL-Monkey": "tab:orange", "MTL-Oracle": "tab:purple",
           "MTL-Shuffled": "tab:gray"}


class NoData(Exception):
    """A figure has nothing to plot; the index says why."""


def main(args) -> int:
    print(write_report(args.outdir, experiment=args.experiment, source=args.source)["index"])
    return 0


def _ordered(families) -> list[str]:
    families = set(families)
    return [f for f in FAMILY_ORDER if f in families] + sorted(families - set(FAMILY_ORDER))


def _default_experiment(source: str) -> str | None:
    from schemas.robustness import Robustness

    found = sorted(set((Robustness & {"corruption_source": source}).to_arrays("experiment").tolist()))
    return found[0] if found else None


def _image_dataset(experiment: str | None, source: str) -> str | None:
    from schemas.evaluation import ClassifierModel
    from schemas.robustness import Robustness

    found = (Robustness & {"experiment": experiment, "corruption_source": source}).to_arrays("image_dataset").tolist()
    found = found or ClassifierModel.to_arrays("image_dataset").tolist()
    return sorted(found)[0] if found else None


def _main_families(experiment: str) -> dict[str, str]:
    """{family: kind} of the experiment's classifier families (no sweeps, no Monkey Predictor)."""
    from schemas.experiment import Family

    rows = (Family & {"experiment": experiment}).to_dicts()
    return {r["family"]: r["kind"] for r in rows if not r["family"].endswith(SWEEP_SUFFIX) and r["kind"] != "monkey_predictor"}


def _first_seed_model(experiment: str, family: str, image_dataset: str) -> dict | None:
    """The ClassifierModel row of the family's model with the lowest seed."""
    from schemas.evaluation import ClassifierModel
    from schemas.robustness import family_members

    members, _ = family_members({"experiment": experiment, "family": family}, image_dataset)
    rows = (ClassifierModel & members).to_dicts(order_by=("seed", "classifier_id")) if members else []
    return rows[0] if rows else None


def _recordings(neural_datasets) -> list[dict]:
    """The recording sets behind neural datasets, each marked virtual (VirtualTruth rows) or real."""
    from schemas.recording import NeuralDataset, RecordingSet, VirtualTruth

    sets = sorted({(NeuralDataset & {"neural_dataset": n}).fetch1("recording_set") for n in set(neural_datasets)})
    return [{"recording_set": s, "virtual": bool(VirtualTruth & {"recording_set": s}),
             "description": (RecordingSet & {"recording_set": s}).fetch1("description")} for s in sets]


def _experiment_recordings(experiment: str, image_dataset: str) -> list[dict]:
    """Recordings the experiment's multi-task models were trained on (through their responses)."""
    from schemas.evaluation import ClassifierModel
    from schemas.experiment import Family
    from schemas.responses import ResponseSource
    from schemas.robustness import family_members

    families = [r["family"] for r in (Family & {"experiment": experiment}).to_dicts() if r["kind"].startswith("mtl")]
    members = [m for f in families for m in family_members({"experiment": experiment, "family": f}, image_dataset)[0]]
    if not members:
        return []
    responses = [{"image_dataset": r["image_dataset"], "responses_id": r["responses_id"]}
                 for r in (ClassifierModel.FromMTL & members).to_dicts()]
    return _recordings((ResponseSource & responses).to_arrays("neural_dataset").tolist())


def _describe(recordings: list[dict]) -> str:
    if not recordings:
        return "no monkey data"
    return "; ".join(f"{r['recording_set']} ({'virtual' if r['virtual'] else 'real'} monkey)" for r in recordings)


def _save(fig, path: Path) -> str:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return str(path)


def _flatten(values, prefix: str = ""):
    """(quantity, value) pairs of a figure's nested numbers: ``family/b_neural``, ``family/neural[3]``."""
    if isinstance(values, dict):
        for key, value in values.items():
            yield from _flatten(value, f"{prefix}/{key}" if prefix else str(key))
    elif isinstance(values, (list, tuple)):
        for i, value in enumerate(values):
            yield from _flatten(value, f"{prefix}[{i}]")
    else:
        yield prefix, values


def write_numbers_csv(values, path: Path) -> str:
    """The numbers a figure plots, one per row (quantity, value), beside its PNG."""
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["quantity", "value"])
        for quantity, value in _flatten(values):
            writer.writerow([quantity, "" if value is None else value])
    return str(path)


def _fig3a(ctx, path):
    from schemas.robustness import Robustness

    rows = [r for r in (Robustness.PerCategory & ctx["robustness_key"]).to_dicts()
            if r["score"] is not None and not r["family"].endswith(SWEEP_SUFFIX)]
    if not rows:
        raise NoData("no Robustness.PerCategory rows")
    families = _ordered(r["family"] for r in rows)
    categories = [c for c in ("noise", "blur", "weather", "digital") if any(r["category"] == c for r in rows)]
    categories += sorted({r["category"] for r in rows} - set(categories))
    by = {(r["family"], r["category"]): r for r in rows}
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


def _fig3b(ctx, path):
    from schemas.robustness import Robustness

    rows = {r["family"]: r for r in (Robustness & ctx["robustness_key"]).to_dicts() if not r["family"].endswith(SWEEP_SUFFIX)}
    if not rows:
        raise NoData("no Robustness rows")
    families = _ordered(rows)
    scores = [rows[f]["score"] for f in families]
    err = [[rows[f]["score"] - rows[f]["score_low"] for f in families], [rows[f]["score_high"] - rows[f]["score"] for f in families]]
    fig, ax = plt.subplots(figsize=(0.9 * len(families) + 2, 3.5))
    ax.bar(range(len(families)), scores, yerr=err, capsize=3, color=[COLOURS.get(f, "tab:green") for f in families])
    ax.axhline(1.0, color="k", lw=0.5, ls="--")
    ax.set_xticks(range(len(families)), families, rotation=30, ha="right")
    ax.set_ylabel("robustness (vs Baseline)")
    return _save(fig, path), {f: rows[f]["score"] for f in families}


def _fig3c(ctx, path):
    from schemas.robustness import RobustnessRegression

    regressions = (RobustnessRegression & ctx["robustness_key"]).to_dicts(order_by="family")
    if not regressions:
        raise NoData("no RobustnessRegression rows (a sweep needs more than three models with a neural evaluation)")
    fig, axes = plt.subplots(1, len(regressions), figsize=(5 * len(regressions), 3.6), squeeze=False, layout="constrained")
    values = {}
    for ax, reg in zip(axes[0], regressions):
        key = {k: reg[k] for k in RobustnessRegression.primary_key}
        terms = {t["term"]: t for t in (RobustnessRegression.Term & key).to_dicts()}
        points = (RobustnessRegression.Member & key).to_dicts(order_by="classifier_id")
        x, y, acc = (np.array([p[a] for p in points], dtype=float) for a in ("neural", "robustness", "clean_accuracy"))
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


def _reconstructions(model: dict, target_set: str) -> dict:
    """{(target_index, norm): Reconstruction.Image row} of a model (its first method, where it has several)."""
    from schemas.reconstruction import Reconstruction

    key = {"image_dataset": model["image_dataset"], "classifier_id": model["classifier_id"], "target_set": target_set}
    methods = sorted(set((Reconstruction & key).to_arrays("method").tolist()))
    if not methods:
        return {}
    rows = (Reconstruction.Image & {**key, "method": methods[0]}).to_dicts()
    return {(r["target_index"], float(r["norm"])): r for r in rows}


def _fig5(ctx, path):
    from schemas.reconstruction import NormConstraint, ReconstructionTarget

    norms = [float(n) for n in NormConstraint.to_arrays("norm", order_by="norm").tolist()]
    target_key = {"image_dataset": ctx["image_dataset"], "target_set": "noisy-test", "target_index": 0}
    models = {f: m for f, m in ctx["models"].items() if _reconstructions(m, "noisy-test")}
    if not models or not (ReconstructionTarget.Image & target_key):
        raise NoData("no reconstructions of the noisy test images")
    target = np.asarray((ReconstructionTarget.Image & target_key).fetch1("image"))
    fig, axes = plt.subplots(len(models), len(norms) + 1, figsize=(1.3 * (len(norms) + 1), 1.4 * len(models)), squeeze=False)
    values = {}
    for row, (family, model) in zip(axes, models.items()):
        images = _reconstructions(model, "noisy-test")
        row[0].imshow(target, cmap="gray", vmin=0, vmax=255)
        row[0].set_ylabel(family, fontsize=7)
        values[family] = {"classifier_id": model["classifier_id"], "seed": model["seed"], "achieved_norm": {}}
        for ax, norm in zip(row[1:], norms):
            image = images.get((0, norm))
            if image is not None:
                ax.imshow(np.asarray(image["reconstruction"]), cmap="gray")
                values[family]["achieved_norm"][f"{norm:g}"] = image["achieved_norm"]
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    for ax, title in zip(axes[0], ["target"] + [f"r = {n:g}" for n in norms]):
        ax.set_title(title, fontsize=8)
    return _save(fig, path), values


def _fig7(ctx, path):
    from schemas.reconstruction import SaliencyNormRatio

    kinds = {}
    for family in _ordered(ctx["kinds"]):  # the first family of each kind
        kinds.setdefault(ctx["kinds"][family], family)
    chosen = {role: ctx["models"].get(kinds.get(kind)) for role, kind in
              (("MTL-Monkey", "mtl_monkey"), ("Oracle", "oracle"), ("Baseline", "baseline"))}
    if chosen["MTL-Monkey"] is None:
        raise NoData("the experiment has no MTL-Monkey model")

    def ratios(model):
        key = {"image_dataset": model["image_dataset"], "classifier_id": model["classifier_id"], "target_set": "saliency"}
        return (SaliencyNormRatio.Image & key).to_dicts(order_by=("saliency_model", "method", "target_index", "norm"))

    mtl = ratios(chosen["MTL-Monkey"])
    if not mtl:
        raise NoData("no SaliencyNormRatio rows for the MTL-Monkey model (no saliency maps yet?)")
    # only saliency models that produced maps have ratios (a DeepGaze II row without weights has none)
    saliency_model = mtl[0]["saliency_model"]
    ctx["saliency_model"] = saliency_model
    by_role = {"MTL-Monkey": mtl}
    for role in ("Oracle", "Baseline"):
        by_role[role] = ratios(chosen[role]) if chosen[role] is not None else []

    def table(rows, attr):
        method = rows[0]["method"] if rows else None
        return {(r["target_index"], float(r["norm"])): r[attr] for r in rows
                if r["saliency_model"] == saliency_model and r["method"] == method}

    y = table(mtl, "ratio")
    xs = {"Oracle": table(by_role["Oracle"], "ratio"), "Baseline": table(by_role["Baseline"], "ratio"),
          "MTL-Monkey control": table(mtl, "ratio_control")}
    styles = {"Oracle": "tab:blue", "Baseline": "black", "MTL-Monkey control": "tab:red"}
    norms = sorted({n for _, n in y})
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


def _fig6(ctx, path):
    """One natural target: its saliency density, the salient mask and the masked image (64 px)."""
    from pipeline import saliency as sal
    from schemas.saliency import SaliencyImageSet, SaliencyMap

    rows = SaliencyMap.Image().to_dicts(order_by=("saliency_set", "saliency_model", "image_id"), limit=1)
    if not rows:
        raise NoData("no SaliencyMap.Image rows")
    row = rows[0]
    key = {k: row[k] for k in ("saliency_set", "image_id")}
    image = sal.resize(np.asarray((SaliencyImageSet.Image & key).fetch1("image"), dtype=np.float32))
    density, mask = np.asarray(row["density_64"]), np.asarray(row["mask_64"], dtype=bool)
    fig, axes = plt.subplots(1, 3, figsize=(7, 2.6))
    panels = [(image, "image (64 px)", "gray"), (density, f"saliency ({row['saliency_model']})", "magma"),
              (np.where(mask, image, 0.0), f"masked: top pixels to density {SaliencyMap.LEVEL:g}", "gray")]
    for ax, (picture, title, cmap) in zip(axes, panels):
        ax.imshow(picture, cmap=cmap)
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    values = {"saliency_set": row["saliency_set"], "image_id": row["image_id"], "saliency_model": row["saliency_model"],
              "salient_fraction": float(row["salient_fraction"]), "level": float(SaliencyMap.LEVEL),
              "density_on_mask": float(density[mask].sum())}
    return _save(fig, path), values


#: the robustness table's columns, in order (``write_robustness_csv`` writes the same)
ROBUSTNESS_COLUMNS = ("family", "n_models", "score", "score_low", "score_high", "score_std", "clean_accuracy",
                      "mean_corruption_accuracy", "mce", "b_neural", "p_neural")


def _robustness_table(key: dict) -> list[dict]:
    """Every family's Robustness row on the experiment's images and corruption source, with
    the neural term of its regression where it has one (the ratio sweeps)."""
    from schemas.robustness import Robustness, RobustnessRegression

    rows = []
    for r in (Robustness & key).to_dicts(order_by="family"):
        restriction = {k: r[k] for k in Robustness.primary_key}
        terms = (RobustnessRegression.Term & restriction & {"term": "neural"}).to_dicts()
        term = terms[0] if terms else {}
        rows.append({**{c: r.get(c) for c in ROBUSTNESS_COLUMNS[:9]},
                     "b_neural": term.get("coefficient"), "p_neural": term.get("p")})
    order = {f: i for i, f in enumerate(_ordered([r["family"] for r in rows]))}
    return sorted(rows, key=lambda r: order.get(r["family"], len(order)))


def write_robustness_csv(rows: list[dict], path: Path) -> str:
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(ROBUSTNESS_COLUMNS)
        for r in rows:
            writer.writerow(["" if r[c] is None else r[c] for c in ROBUSTNESS_COLUMNS])
    return str(path)


def _neural_table() -> list[dict]:
    from schemas.mtl import MTLModel
    from schemas.neural import NeuralEvaluation, NeuralModel

    from schemas import kinds

    labels = {k.name: k.label for k in kinds.KINDS}
    rows = (NeuralModel * NeuralEvaluation).to_dicts(order_by=("neural_dataset", "kind", "seed", "neural_model_id"))
    recordings = {n: _recordings([n])[0] for n in {row["neural_dataset"] for row in rows}}
    out = []
    for row in rows:
        label = labels.get(row["kind"], row["kind"])
        if row["kind"] == "mtl":
            mtl = (NeuralModel.FromMTL & {"neural_dataset": row["neural_dataset"], "neural_model_id": row["neural_model_id"]}).fetch1()
            key = {k: mtl[k] for k in MTLModel.primary_key}
            label = f"{MTLModel.family_of(key)} {(MTLModel & key).fetch1('output')['batch_ratio']}"
        rec = recordings[row["neural_dataset"]]
        out.append({"model": label, "kind": row["kind"], "seed": row["seed"], "neural_dataset": row["neural_dataset"],
                    "neural_model_id": row["neural_model_id"], "recording_set": rec["recording_set"], "virtual": rec["virtual"],
                    **{a: row[a] for a in ("n_units", "test_corr", "validation_corr", "fev", "fev_e", "n_units_selected",
                                                 "fev_e_selected", "ceiling", "fraction_of_ceiling")}})
    order = {name: i for i, name in enumerate(kinds.NEURAL_KINDS)}
    return sorted(out, key=lambda r: (r["neural_dataset"], order[r["kind"]], r["model"], r["seed"]))


FIGURES = [
    ("fig3a_categories", _fig3a, "Figure 3A: robustness per corruption category (mean over the category's corruptions of the "
     "family's accuracy over the Baseline's), with 95% bootstrap intervals. Source: Robustness.PerCategory."),
    ("fig3b_overall", _fig3b, "Figure 3B: overall robustness per family, with 95% bootstrap intervals (over images and seeds). "
     "Source: Robustness."),
    ("fig3c_regression", _fig3c, "Figure 3C: each sweep model's robustness against its neural FEVe, coloured by clean accuracy; "
     "the line is the fit robustness ~ intercept + clean accuracy + neural at the mean clean accuracy. Source: RobustnessRegression."),
    ("fig5_reconstructions", _fig5, "Figure 5: conv3_1 reconstructions of the first noisy test image (Gaussian noise, severity 2) "
     "under each L2 norm constraint, one row per family (lowest seed). Source: Reconstruction.Image."),
    ("fig6_saliency_mask", _fig6, "Figure 6: one saliency image, its saliency density and the salient mask (the top pixels "
     "up to cumulative density 0.7) applied to it, at the models' 64 px. Source: SaliencyMap.Image."),
    ("fig7_saliency", _fig7, "Figure 7: normalised norm ratio on the salient pixels of MTL-Monkey reconstructions (y) against "
     "the Oracle's (blue), the Baseline's (black) and MTL-Monkey's own spectral controls (red), one panel per norm. "
     "Source: SaliencyNormRatio.Image."),
]


def _fmt(value) -> str:
    if value is None:
        return "&ndash;"
    return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))


def write_report(outdir, experiment: str | None = None, source: str = "tin-tc") -> dict:
    """Write index.html and the figures under ``outdir``; return what was written and the plotted numbers."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    experiment = experiment or _default_experiment(source)
    image_dataset = _image_dataset(experiment, source)
    kinds = _main_families(experiment) if experiment else {}
    models = {}
    if image_dataset:
        for family in _ordered(kinds):
            model = _first_seed_model(experiment, family, image_dataset)
            if model is not None:
                models[family] = model
    recordings = _experiment_recordings(experiment, image_dataset) if experiment and image_dataset else []
    ctx = {"experiment": experiment, "image_dataset": image_dataset, "kinds": kinds, "models": models,
           "robustness_key": {"experiment": experiment, "image_dataset": image_dataset, "corruption_source": source}}
    provenance = f"experiment {experiment!s}, image dataset {image_dataset!s}; recordings: {_describe(recordings)}"
    figures, skipped, sections = {}, {}, []
    for name, draw, caption in FIGURES:
        try:
            if experiment is None or image_dataset is None:
                raise NoData(f"no experiment with robustness scores on {source}")
            file, values = draw(ctx, outdir / f"{name}.png")
        except NoData as why:
            skipped[name] = str(why)
            sections.append(f"<h2>{name}</h2><p><em>Skipped: {html.escape(str(why))}.</em></p>")
            continue
        numbers = write_numbers_csv(values, outdir / f"{name}.csv")
        figures[name] = {"path": file, "values": values, "csv": numbers}
        extra = f" Saliency model: {ctx['saliency_model']}." if name == "fig7_saliency" else ""
        sections.append(f'<h2>{name}</h2><img src="{name}.png" alt="{name}"><p>{html.escape(caption + extra)}<br>'
                        f'Data: {html.escape(provenance)}. Numbers: <a href="{name}.csv">{name}.csv</a>.</p>')
    robustness = _robustness_table(ctx["robustness_key"]) if experiment and image_dataset else []
    robustness_html = "<p><em>Skipped: no Robustness rows.</em></p>"
    if robustness:
        csv_path = Path(write_robustness_csv(robustness, outdir / "robustness.csv"))
        columns = ("family", "models", "score", "95% low", "95% high", "bootstrap sd", "clean", "corrupted", "mCE",
                   "b_neural", "p (b_neural)")
        robustness_html = (
            "<table><tr>" + "".join(f"<th>{h}</th>" for h in columns) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{_fmt(r[c])}</td>" for c in ROBUSTNESS_COLUMNS) + "</tr>" for r in robustness)
            + f'</table><p>Numbers: <a href="{csv_path.name}">{csv_path.name}</a>.</p>')
    sections.append("<h2>Robustness of every family</h2><p>Score against the Baseline family on "
                    f"{html.escape(source)}, 95% bootstrap interval over images and seeds; for the ratio sweeps, the "
                    "regression of the models' robustness on clean accuracy and neural FEVe (b_neural, its p).</p>"
                    + robustness_html)
    neural = _neural_table()
    header = ("model", "seed", "neural dataset", "recordings", "units", "test corr", "FEVe", "units with FEV >= 0.15",
              "FEVe of those", "ceiling", "fraction of ceiling")
    cells = [(r["model"], r["seed"], r["neural_dataset"], f"{r['recording_set']} ({'virtual' if r['virtual'] else 'real'} monkey)",
              r["n_units"], r["test_corr"], r["fev_e"], r["n_units_selected"], r["fev_e_selected"], r["ceiling"],
              r["fraction_of_ceiling"]) for r in neural]
    table = ("<table><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>"
             + "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>" for row in cells) + "</table>")
    if not neural:
        table = "<p><em>Skipped: no NeuralEvaluation rows.</em></p>"
    index = outdir / "index.html"
    index.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Report: " + html.escape(str(experiment)) + "</title>"
        "<style>body{font-family:sans-serif;max-width:60em}img{max-width:100%}td,th{padding:2px 8px;text-align:right}</style>"
        f"</head><body><h1>Experiment {html.escape(str(experiment))}</h1><p>{html.escape(provenance)}; "
        f"corruption source {html.escape(source)}.</p>" + "".join(sections)
        + "<h2>Neural performance</h2><p>Every neural model on its dataset's test repeats (NeuralModel * NeuralEvaluation); "
        "the ceiling (correlation of the true rates with the responses) exists for virtual recordings only.</p>"
        + table + "</body></html>\n")
    return {"index": str(index), "figures": figures, "skipped": skipped, "robustness": robustness,
            "data": {"experiment": experiment, "image_dataset": image_dataset, "corruption_source": source,
                     "recordings": recordings, "models": {f: m["classifier_id"] for f, m in models.items()}, "neural": neural}}
