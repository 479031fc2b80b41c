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

Three rooms: the queries are in :mod:`populate.report_data` (no matplotlib), the drawings
in :mod:`populate.figures`, and this module writes the HTML and the CSV files.
"""

from __future__ import annotations

import html
from pathlib import Path

from . import figures
from . import report_data as data
from .report_data import NoData, ROBUSTNESS_COLUMNS  # noqa: F401 (the names tests and callers use)


def main(args) -> int:
    print(write_report(args.outdir, experiment=args.experiment, source=args.source)["index"])
    return 0


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


def write_robustness_csv(rows: list[dict], path: Path) -> str:
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(ROBUSTNESS_COLUMNS)
        for r in rows:
            writer.writerow(["" if r[c] is None else r[c] for c in ROBUSTNESS_COLUMNS])
    return str(path)


def _fig3a(ctx, path):
    return figures.draw_fig3a(data.fig3a_data(ctx["robustness_key"]), path)


def _fig3b(ctx, path):
    return figures.draw_fig3b(data.fig3b_data(ctx["robustness_key"]), path)


def _fig3c(ctx, path):
    return figures.draw_fig3c(data.fig3c_data(ctx["robustness_key"]), path)


def _fig5(ctx, path):
    return figures.draw_fig5(data.fig5_data(ctx["image_dataset"], ctx["models"]), path)


def _fig6(ctx, path):
    return figures.draw_fig6(data.fig6_data(), path)


def _fig7(ctx, path):
    values = data.fig7_data(ctx["kinds"], ctx["models"])
    ctx["saliency_model"] = values["saliency_model"]
    return figures.draw_fig7(values, path)


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
    experiment = experiment or data.default_experiment(source)
    image_dataset = data.image_dataset_of(experiment, source)
    kinds = data.main_families(experiment) if experiment else {}
    models = {}
    if image_dataset:
        for family in data.ordered(kinds):
            model = data.first_seed_model(experiment, family, image_dataset)
            if model is not None:
                models[family] = model
    recordings = data.experiment_recordings(experiment, image_dataset) if experiment and image_dataset else []
    ctx = {"experiment": experiment, "image_dataset": image_dataset, "kinds": kinds, "models": models,
           "robustness_key": {"experiment": experiment, "image_dataset": image_dataset, "corruption_source": source}}
    provenance = f"experiment {experiment!s}, image dataset {image_dataset!s}; recordings: {data.describe_recordings(recordings)}"
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
    robustness = data.robustness_table(ctx["robustness_key"]) if experiment and image_dataset else []
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
    neural = data.neural_table()
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
