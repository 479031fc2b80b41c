"""Robustness scores per model family, with bootstrap intervals, and the robustness regression.

``Robustness`` pools a family's models (its seeds; for a sweep family, all its ratios) and
compares them with the Baseline family of the same experiment on one corruption source:
the paper's score (1/C) sum_c mean_acc_c(family) / mean_acc_c(Baseline) over the TIN-TC
corruptions, per corruption and per category, with 95% bootstrap intervals (250
repetitions over images and seeds), the mean corruption accuracy and the mCE. Each member
model's own score against the Baseline family is a Part row.

``RobustnessRegression`` regresses the members' robustness on clean test accuracy and
neural FEVe (the MTL head's fraction of explainable variance explained on the real test
responses): the analysis of Figure 3C, for the MTL-Monkey and MTL-Shuffled sweeps.
"""

from __future__ import annotations

import datajoint as dj
import numpy as np

from pipeline import robustness as rb
from pipeline.corruptions import SEVERITIES, TIN_TC, category_of

from . import kinds
from .connection import make_schema
from .corruption import Corruption, CorruptionSource  # noqa: F401 (definitions name them)
from .evaluation import ClassifierModel, Evaluation
from .experiment import Family
from .neural import NeuralEvaluation, NeuralModel
from .responses import ResponseSource

schema = make_schema("robustness")

REPETITIONS = 250
BOOTSTRAP_SEED = 0


def family_members(family_key: dict, image_dataset: str | None = None) -> tuple[list[dict], int]:
    """(ClassifierModel keys of the family's trained models, models planned).

    Only the family's data count: models on its image dataset and, for MTL families,
    trained on responses of its kind that stand for its neural dataset. ``image_dataset``,
    where given, must be the family's (another dataset has no members).
    """
    family = (Family & family_key).fetch1()
    seeds = Family.Replicate & family_key
    plan = {(c["model_fn"], c["model_hash"], c["trainer_fn"], c["trainer_hash"], int(s))
            for c in (Family.Config & family_key).to_dicts() for s in seeds.to_arrays("seed").tolist()}
    if image_dataset is not None and image_dataset != family["image_dataset"]:
        return [], len(plan)
    image_dataset = family["image_dataset"]
    part = ClassifierModel.part_of_kind(kinds.of_family(family["kind"]).name)
    if part is None:  # a family of models that classify nothing has no members here
        return [], len(plan)
    rows = (part & {"image_dataset": image_dataset}).to_dicts()
    members = [r for r in rows if (r["model_fn"], r["model_hash"], r["trainer_fn"], r["trainer_hash"], int(r["seed"])) in plan]
    if family["kind"] in kinds.PRODUCER_OF_FAMILY:
        wanted = {"image_dataset": image_dataset, "producer": kinds.PRODUCER_OF_FAMILY[family["kind"]],
                  "neural_dataset": family["neural_dataset"]}
        responses = set((ResponseSource & wanted).to_arrays("responses_id").tolist())
        members = [r for r in members if r["responses_id"] in responses]
    return [{"image_dataset": image_dataset, "classifier_id": r["classifier_id"]} for r in members], len(plan)


def reference_families() -> dict[tuple[str, str], dict]:
    """(experiment, image dataset) -> its reference family's key (see
    :func:`reference_family`), for every pair that has a baseline-kind family."""
    out: dict[tuple[str, str], dict] = {}
    for row in (Family & {"kind": "baseline"}).to_dicts(order_by="family"):
        pair = (row["experiment"], row["image_dataset"])
        if pair not in out or row["family"] == "Baseline":
            out[pair] = {"experiment": row["experiment"], "family": row["family"]}
    return out


def reference_family(experiment: str, image_dataset: str) -> dict | None:
    """The experiment's Baseline family on ``image_dataset``: the one named "Baseline", else
    the first baseline-kind family by name (a lab's own baseline-kind family, e.g. "AlexNet",
    is scored against the Baseline, never made the reference because it sorts first)."""
    return reference_families().get((experiment, image_dataset))


def members_query(family_kind: str):
    """The trained members of every family of ``family_kind``, as a query: (experiment, family,
    image_dataset, classifier_id, ...), the relational form of :func:`family_members`; None
    for a family kind whose models classify nothing."""
    part = ClassifierModel.part_of_kind(kinds.of_family(family_kind).name)
    if part is None:
        return None
    combination = ("model_fn", "model_hash", "trainer_fn", "trainer_hash", "seed")
    planned = Family.planned(family_kind)
    if family_kind not in kinds.PRODUCER_OF_FAMILY:
        return part.proj(*combination) * planned.proj("image_dataset")
    # an MTL family's members learned from responses of its producer that stand for its neural dataset
    responses = ResponseSource.proj("neural_dataset", "producer") & {"producer": kinds.PRODUCER_OF_FAMILY[family_kind]}
    return part.proj(*combination, "responses_id") * responses.proj("neural_dataset") * planned


def ready_families():
    """(experiment, family, image_dataset, corruption_source) of the families whose every
    planned model is trained and evaluated on the source (on the family's own image dataset),
    as one query: an OR over the family kinds of the recipe (schemas.kinds), each a few
    joins and aggregations, with no query per family or member."""
    # exclude_nonmatching: DataJoint's aggr is a LEFT JOIN by default, where count(*) counts
    # a family without members as 1
    planned_count = Family.aggr(Family.Config * Family.Replicate, n_planned="count(*)", exclude_nonmatching=True)
    ready = []
    for family_kind in kinds.FAMILY_KINDS:
        members = members_query(family_kind)
        if members is None:
            continue
        complete = (Family.aggr(members, n_members="count(*)", exclude_nonmatching=True) * planned_count) & "n_members >= n_planned"
        on_sources = (Family & complete.proj()).proj("image_dataset") * CorruptionSource.proj()
        unevaluated = (members * CorruptionSource.proj()) - Evaluation.proj()
        ready.append(on_sources - unevaluated)
    return Family.proj() * CorruptionSource.proj() & ready


def _correctness(members: list[dict], source: dict, corruptions: list[str]) -> np.ndarray:
    """(models, corruptions, severities, images) bool."""
    # here, not at the top (it imports torch): status, gc and ingest's checks start without torch
    from pipeline.evaluation import unpack

    out = []
    for member in members:
        rows = {(r["corruption"], int(r["severity"])): unpack(r["correct"], r["n_images"])
                for r in (Evaluation.Condition & {**member, **source}).to_dicts()}
        out.append([[rows[(c, s)] for s in SEVERITIES] for c in corruptions])
    return np.array(out, dtype=bool)


@schema
class Robustness(dj.Computed):
    definition = """
    # a family's robustness against its experiment's Baseline family on the same images, on one corruption source
    -> Family
    -> CorruptionSource
    ---
    reference_family : varchar(32)      # the Baseline family compared with
    n_models : int32                    # models pooled (seeds; for a sweep, ratios x seeds)
    n_corruptions : int32               # corruptions scored (TIN-TC corruptions the source has, where the Baseline's accuracy is above 0)
    score : float64                     # (1/C) sum_c mean_acc_c(family) / mean_acc_c(Baseline)
    score_low : float64                 # 2.5th percentile of the bootstrap
    score_high : float64                # 97.5th percentile of the bootstrap
    score_std : float64                 # standard deviation of the bootstrap
    repetitions : int32                 # bootstrap repetitions over images and seeds
    bootstrap_seed : int32              # seed of the bootstrap
    mean_corruption_accuracy : float64  # mean accuracy over models, corruptions and severities (0-1)
    clean_accuracy : float64            # mean clean test accuracy of the models (0-1)
    mce = null : float64                # mean corruption error relative to the Baseline family (Baseline = 1)
    """

    class PerCorruption(dj.Part):
        definition = """
        # one corruption: mean accuracy over severities and models, relative to the Baseline's
        -> master
        -> Corruption
        ---
        accuracy : float64              # mean accuracy over severities and models (0-1)
        ratio = null : float64          # accuracy over the Baseline family's (null where the Baseline's is 0)
        ratio_low = null : float64      # 2.5th percentile of the bootstrap
        ratio_high = null : float64     # 97.5th percentile of the bootstrap
        ce = null : float64             # corruption error relative to the Baseline (summed over severities)
        """

    class PerCategory(dj.Part):
        definition = """
        # the score over one ImageNet-C category's corruptions
        -> master
        category : varchar(8)           # noise, blur, weather or digital
        ---
        score = null : float64          # mean ratio over the category's corruptions
        score_low = null : float64      # 2.5th percentile of the bootstrap
        score_high = null : float64     # 97.5th percentile of the bootstrap
        """

    class Member(dj.Part):
        definition = """
        # one model of the family, scored on its own against the Baseline family
        -> master
        -> ClassifierModel
        ---
        robustness : float64            # the model's score (its accuracies over the Baseline family's)
        clean_accuracy : float64        # clean test accuracy (0-1)
        mean_corruption_accuracy : float64  # mean accuracy over corruptions and severities (0-1)
        """

    @property
    def key_source(self):
        # a family is scored once it and its reference (the experiment's Baseline family on
        # the same images) are trained and evaluated on the source
        ready = ready_families()
        references = [{**reference, "image_dataset": dataset} for (experiment, dataset), reference in reference_families().items()]
        reference_ready = dj.U("experiment", "image_dataset", "corruption_source") & (ready & references)
        return ready & reference_ready

    def make_fetch(self, key):
        return (reference_family(key["experiment"], key["image_dataset"])["family"],)

    def make_compute(self, key, reference):
        source = {k: key[k] for k in ("image_dataset", "corruption_source")}
        members, _ = family_members({k: key[k] for k in ("experiment", "family")}, key["image_dataset"])
        baseline, _ = family_members({"experiment": key["experiment"], "family": reference}, key["image_dataset"])
        have = {c for c, _ in CorruptionSource.conditions(source)}
        corruptions = [c for c in TIN_TC if c in have]
        model_correct, base_correct = _correctness(members, source, corruptions), _correctness(baseline, source, corruptions)
        model_acc, base_acc = rb.accuracies(model_correct), rb.accuracies(base_correct)
        groups = {}
        for i, c in enumerate(corruptions):
            groups.setdefault(category_of(c), []).append(i)
        boot = rb.bootstrap(model_correct, base_correct, groups, repetitions=REPETITIONS, seed=BOOTSTRAP_SEED)
        low, high, std = rb.interval(boot["score"])
        with np.errstate(divide="ignore", invalid="ignore"):
            mce, ce = rb.mean_corruption_error(model_acc, base_acc)
        ratios = rb.per_corruption_ratio(model_acc, base_acc)  # NaN where the Baseline's accuracy is 0
        clean = [(Evaluation & {**m, **source}).fetch1("clean_accuracy") for m in members]
        master = {**key, "reference_family": reference, "n_models": len(members), "n_corruptions": len(corruptions),
                  "score": float(np.nanmean(ratios)), "score_low": low, "score_high": high, "score_std": std,
                  "repetitions": REPETITIONS, "bootstrap_seed": BOOTSTRAP_SEED,
                  "mean_corruption_accuracy": float(model_acc.mean()), "clean_accuracy": float(np.mean(clean)), "mce": _nullable(np.nanmean(np.where(np.isfinite(ce), ce, np.nan)))}
        per_corruption = []
        for i, c in enumerate(corruptions):
            c_low, c_high, _ = rb.interval(boot["corruption"][:, i])
            per_corruption.append({**key, "corruption": c, "accuracy": float(model_acc[:, i].mean()), "ratio": _nullable(ratios[i]),
                                   "ratio_low": _nullable(c_low), "ratio_high": _nullable(c_high), "ce": _nullable(ce[i])})
        categories = []
        for name, idx in groups.items():
            g_low, g_high, _ = rb.interval(boot["group"][name])
            categories.append({**key, "category": name, "score": _nullable(np.nanmean(ratios[idx])),
                               "score_low": _nullable(g_low), "score_high": _nullable(g_high)})
        member_rows = [{**key, "classifier_id": m["classifier_id"],
                        "robustness": float(np.nanmean(rb.per_corruption_ratio(model_acc[j : j + 1], base_acc))),
                        "clean_accuracy": float(clean[j]), "mean_corruption_accuracy": float(model_acc[j].mean())}
                       for j, m in enumerate(members)]
        return master, per_corruption, categories, member_rows

    def make_insert(self, key, master, per_corruption, categories, member_rows):
        self.insert1(master)
        self.PerCorruption.insert(per_corruption)
        self.PerCategory.insert(categories)
        self.Member.insert(member_rows)


def _nullable(value) -> float | None:
    """MySQL cannot store NaN: undefined numbers are NULL."""
    value = float(value)
    return value if np.isfinite(value) else None


def _neural_fev(member: dict) -> float | None:
    """FEVe of the MTL model behind a ClassifierModel entry over the units that pass the
    selection of Cadena et al. 2019 (fev >= 0.15), from its NeuralEvaluation."""
    mtl = (ClassifierModel.FromMTL & member).fetch1()
    fields = ("responses_id", "model_fn", "model_hash", "trainer_fn", "trainer_hash", "seed")
    match = NeuralModel.FromMTL & {k: mtl[k] for k in fields} & {"image_dataset": mtl["image_dataset"]}
    evaluation = NeuralEvaluation & match.proj()
    return evaluation.fetch1("fev_e_selected") if evaluation else None


@schema
class RobustnessRegression(dj.Computed):
    definition = """
    # robustness of a sweep's models regressed on clean accuracy and neural FEVe (Figure 3C)
    -> Robustness
    ---
    n_models : int32                    # models in the regression
    design_rank : int32                 # rank of [1, clean accuracy, neural] over the models; terms are null below 3
    r_squared = null : float64          # coefficient of determination; null where undetermined
    neural_measure : varchar(16)        # the neural predictor: fev_e_selected (FEVe over units with fev >= 0.15)
    """

    class Term(dj.Part):
        definition = """
        # one term of the fit: robustness ~ intercept + clean_accuracy + neural
        -> master
        term : varchar(16)              # intercept, clean_accuracy or neural
        ---
        coefficient = null : float64    # least-squares estimate (null: the design is rank-deficient)
        std_error = null : float64      # its standard error
        t = null : float64              # t statistic
        p = null : float64              # two-sided p value
        """

    class Member(dj.Part):
        definition = """
        # the data point of one model
        -> master
        -> ClassifierModel
        ---
        robustness : float64            # the model's robustness score
        clean_accuracy : float64        # clean test accuracy (0-1)
        neural : float64                # FEVe of the model's neural head on the real test responses, selected units
        """

    @property
    def key_source(self):
        # the MTL-Monkey and MTL-Shuffled families' scores with more than three members,
        # every member's MTL model scored on the recordings (one query, no loop over members)
        sweeps = Robustness & (Family & "kind in ('mtl_monkey', 'mtl_shuffled')").proj()
        enough = Robustness.proj().aggr(Robustness.Member.proj(), n_members="count(*)", exclude_nonmatching=True) & "n_members > 3"
        fields = ("responses_id", "model_fn", "model_hash", "trainer_fn", "trainer_hash", "seed")
        members = (Robustness.Member & sweeps.proj()).proj() * ClassifierModel.FromMTL.proj(*fields)
        # make_fetch regresses on fev_e_selected, null where no unit passes the selection
        scored = NeuralModel.FromMTL.proj(*fields, "image_dataset") & (NeuralEvaluation & "fev_e_selected IS NOT NULL").proj()
        return (sweeps.proj() & enough.proj()) - (members - scored)

    def make_fetch(self, key):
        # the points regressed: DataJoint fetches them again in make_insert's transaction and
        # refuses to insert if a member's score or FEVe changed meanwhile
        members = [{k: m[k] for k in ("classifier_id", "robustness", "clean_accuracy")}
                   for m in (Robustness.Member & key).to_dicts(order_by="classifier_id")]
        return members, [_neural_fev({**key, **m}) for m in members]

    def make_compute(self, key, members, neural):
        fit = rb.regression(np.array([m["robustness"] for m in members]),
                            {"clean_accuracy": np.array([m["clean_accuracy"] for m in members]), "neural": np.array(neural)})
        points = [{**key, "classifier_id": m["classifier_id"], "robustness": m["robustness"],
                   "clean_accuracy": m["clean_accuracy"], "neural": float(n)} for m, n in zip(members, neural)]
        return fit, points

    def make_insert(self, key, fit, points):
        self.insert1({**key, "n_models": fit["n"], "design_rank": fit["rank"], "r_squared": _nullable(fit["r_squared"]),
                      "neural_measure": "fev_e_selected"})
        self.Term.insert([{**key, "term": term, **{k: _nullable(v) for k, v in values.items()}}
                          for term, values in fit["terms"].items()])
        self.Member.insert(points)
