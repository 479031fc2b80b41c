"""The report's queries: every number the figures and tables show, read through the DataJoint API.

Each ``figN_data`` returns what one figure draws, as plain values (or raises :class:`NoData`
saying why there is nothing to draw); :mod:`populate.figures` draws them and
:mod:`populate.report` writes the HTML and CSV files. Nothing here imports matplotlib.
"""

from __future__ import annotations

import numpy as np

SWEEP_SUFFIX = "ratio sweep"
#: the paper's order of families; others follow alphabetically
FAMILY_ORDER = ("Baseline", "Oracle", "MTL-Monkey", "MTL-Oracle", "MTL-Shuffled")


class NoData(Exception):
    """A figure has nothing to plot; the index says why."""


def ordered(families) -> list[str]:
    families = set(families)
    return [f for f in FAMILY_ORDER if f in families] + sorted(families - set(FAMILY_ORDER))


def default_experiment(source: str) -> str | None:
    from schemas.robustness import Robustness

    found = sorted(set((Robustness & {"corruption_source": source}).to_arrays("experiment").tolist()))
    return found[0] if found else None


def image_dataset_of(experiment: str | None, source: str) -> str | None:
    from schemas.evaluation import ClassifierModel
    from schemas.robustness import Robustness

    found = (Robustness & {"experiment": experiment, "corruption_source": source}).to_arrays("image_dataset").tolist()
    found = found or ClassifierModel.to_arrays("image_dataset").tolist()
    return sorted(found)[0] if found else None


def main_families(experiment: str) -> dict[str, str]:
    """{family: kind} of the experiment's classifier families (no sweeps, no Monkey Predictor)."""
    from schemas.experiment import Family

    rows = (Family & {"experiment": experiment}).to_dicts()
    return {r["family"]: r["kind"] for r in rows if not r["family"].endswith(SWEEP_SUFFIX) and r["kind"] != "monkey_predictor"}


def first_seed_model(experiment: str, family: str, image_dataset: str) -> dict | None:
    """The ClassifierModel row of the family's model with the lowest seed."""
    from schemas.evaluation import ClassifierModel
    from schemas.robustness import family_members

    members, _ = family_members({"experiment": experiment, "family": family}, image_dataset)
    rows = (ClassifierModel & members).to_dicts(order_by=("seed", "classifier_id")) if members else []
    return rows[0] if rows else None


def recordings_of(neural_datasets) -> list[dict]:
    """The recording sets behind neural datasets, each marked virtual (VirtualTruth rows) or real."""
    from schemas.recording import NeuralDataset, RecordingSet, VirtualTruth

    sets = sorted({(NeuralDataset & {"neural_dataset": n}).fetch1("recording_set") for n in set(neural_datasets)})
    return [{"recording_set": s, "virtual": bool(VirtualTruth & {"recording_set": s}),
             "description": (RecordingSet & {"recording_set": s}).fetch1("description")} for s in sets]


def experiment_recordings(experiment: str, image_dataset: str) -> list[dict]:
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
    return recordings_of((ResponseSource & responses).to_arrays("neural_dataset").tolist())


def describe_recordings(recordings: list[dict]) -> str:
    if not recordings:
        return "no monkey data"
    return "; ".join(f"{r['recording_set']} ({'virtual' if r['virtual'] else 'real'} monkey)" for r in recordings)


def reconstructions(model: dict, target_set: str) -> dict:
    """{(target_index, norm): Reconstruction.Image row} of a model (its first method, where it has several)."""
    from schemas.reconstruction import Reconstruction

    key = {"image_dataset": model["image_dataset"], "classifier_id": model["classifier_id"], "target_set": target_set}
    methods = sorted(set((Reconstruction & key).to_arrays("method").tolist()))
    if not methods:
        return {}
    rows = (Reconstruction.Image & {**key, "method": methods[0]}).to_dicts()
    return {(r["target_index"], float(r["norm"])): r for r in rows}


#: the robustness table's columns, in order (``write_robustness_csv`` writes the same)
ROBUSTNESS_COLUMNS = ("family", "n_models", "score", "score_low", "score_high", "score_std", "clean_accuracy",
                      "mean_corruption_accuracy", "mce", "b_neural", "p_neural")


def robustness_table(key: dict) -> list[dict]:
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
    order = {f: i for i, f in enumerate(ordered([r["family"] for r in rows]))}
    return sorted(rows, key=lambda r: order.get(r["family"], len(order)))


def neural_table() -> list[dict]:
    """Every neural model's scores on its dataset's test repeats, labelled by kind and family."""
    from schemas import kinds
    from schemas.mtl import MTLModel
    from schemas.neural import NeuralEvaluation, NeuralModel

    labels = {k.name: k.label for k in kinds.KINDS}
    rows = (NeuralModel * NeuralEvaluation).to_dicts(order_by=("neural_dataset", "kind", "seed", "neural_model_id"))
    recordings = {n: recordings_of([n])[0] for n in {row["neural_dataset"] for row in rows}}
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


def fig3a_data(key: dict) -> dict:
    """Robustness per corruption category and family (no sweeps), with intervals."""
    from schemas.robustness import Robustness

    rows = [r for r in (Robustness.PerCategory & key).to_dicts()
            if r["score"] is not None and not r["family"].endswith(SWEEP_SUFFIX)]
    if not rows:
        raise NoData("no Robustness.PerCategory rows")
    categories = [c for c in ("noise", "blur", "weather", "digital") if any(r["category"] == c for r in rows)]
    categories += sorted({r["category"] for r in rows} - set(categories))
    by = {(r["family"], r["category"]): {k: r[k] for k in ("score", "score_low", "score_high")} for r in rows}
    return {"families": ordered(r["family"] for r in rows), "categories": categories, "scores": by}


def fig3b_data(key: dict) -> dict:
    """{family: its Robustness row} (no sweeps), in the paper's order."""
    from schemas.robustness import Robustness

    rows = {r["family"]: r for r in (Robustness & key).to_dicts() if not r["family"].endswith(SWEEP_SUFFIX)}
    if not rows:
        raise NoData("no Robustness rows")
    return {f: rows[f] for f in ordered(rows)}


def fig3c_data(key: dict) -> list[dict]:
    """Each sweep's regression: its row, its terms and its members' points."""
    from schemas.robustness import RobustnessRegression

    regressions = (RobustnessRegression & key).to_dicts(order_by="family")
    if not regressions:
        raise NoData("no RobustnessRegression rows (a sweep needs more than three models with a neural evaluation)")
    out = []
    for reg in regressions:
        restriction = {k: reg[k] for k in RobustnessRegression.primary_key}
        points = (RobustnessRegression.Member & restriction).to_dicts(order_by="classifier_id")
        out.append({**reg, "terms": {t["term"]: t for t in (RobustnessRegression.Term & restriction).to_dicts()},
                    **{a: np.array([p[a] for p in points], dtype=float) for a in ("neural", "robustness", "clean_accuracy")}})
    return out


def fig5_data(image_dataset: str, models: dict) -> dict:
    """The first noisy test target and each family's reconstructions of it under every norm."""
    from schemas.reconstruction import NormConstraint, ReconstructionTarget

    norms = [float(n) for n in NormConstraint.to_arrays("norm", order_by="norm").tolist()]
    target_key = {"image_dataset": image_dataset, "target_set": "noisy-test", "target_index": 0}
    images = {f: reconstructions(m, "noisy-test") for f, m in models.items()}
    images = {f: i for f, i in images.items() if i}
    if not images or not (ReconstructionTarget.Image & target_key):
        raise NoData("no reconstructions of the noisy test images")
    return {"norms": norms, "target": np.asarray((ReconstructionTarget.Image & target_key).fetch1("image")),
            "models": {f: models[f] for f in images}, "images": images}


def fig7_data(kinds: dict, models: dict) -> dict:
    """Normalised norm ratios of the MTL-Monkey reconstructions (y) and of the Oracle's, the
    Baseline's and MTL-Monkey's own spectral controls (x), per (target, norm)."""
    from schemas.reconstruction import SaliencyNormRatio

    first = {}
    for family in ordered(kinds):  # the first family of each kind
        first.setdefault(kinds[family], family)
    chosen = {role: models.get(first.get(kind)) for role, kind in
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
    by_role = {role: ratios(chosen[role]) if chosen[role] is not None else [] for role in ("Oracle", "Baseline")}

    def table(rows, attr):
        method = rows[0]["method"] if rows else None
        return {(r["target_index"], float(r["norm"])): r[attr] for r in rows
                if r["saliency_model"] == saliency_model and r["method"] == method}

    y = table(mtl, "ratio")
    return {"saliency_model": saliency_model, "y": y, "norms": sorted({n for _, n in y}),
            "x": {"Oracle": table(by_role["Oracle"], "ratio"), "Baseline": table(by_role["Baseline"], "ratio"),
                  "MTL-Monkey control": table(mtl, "ratio_control")}}


def fig6_data() -> dict:
    """One natural target at the models' 64 px, its saliency density and its salient mask."""
    from pipeline import saliency as sal
    from schemas.saliency import SaliencyImageSet, SaliencyMap

    rows = SaliencyMap.Image().to_dicts(order_by=("saliency_set", "saliency_model", "image_id"), limit=1)
    if not rows:
        raise NoData("no SaliencyMap.Image rows")
    row = rows[0]
    key = {k: row[k] for k in ("saliency_set", "image_id")}
    image = sal.resize(np.asarray((SaliencyImageSet.Image & key).fetch1("image"), dtype=np.float32))
    return {"row": row, "image": image, "density": np.asarray(row["density_64"]),
            "mask": np.asarray(row["mask_64"], dtype=bool), "level": float(SaliencyMap.LEVEL)}
