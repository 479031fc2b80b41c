"""The ``tiny`` profile's whole graph, populated once per leg by a worker against a real server:
responses, Oracle readout, the three MTL families and their neural evaluation, TIN-TC,
evaluations, robustness scores and the regression. The tests share the graph and leave it
as they found it; the SQL, the key sources and the populate's own counts are checked on
every backend, the science once."""

import networkx as nx
import numpy as np
import pytest


@pytest.mark.backend_specific
def test_all_three_families_populate_with_scoped_seeds_and_ratios(tiny_graph):
    from schemas.experiment import Family
    from schemas.mtl import MTLCheckpoint, MTLModel
    from schemas.neural import NeuralEvaluation, NeuralModel
    from schemas.responses import OracleReadout, PredictedResponses, ResponseSource

    entries, summary, _ = tiny_graph
    assert not any(summary["errors"].values()), summary
    # the worker times every stage that did work (the demo prints this breakdown)
    assert set(summary["seconds"]) == {t for t, n in summary["done"].items() if n}
    assert all(s >= 0 for s in summary["seconds"].values())
    assert len(OracleReadout()) == 2
    producers = sorted(ResponseSource.to_arrays("producer").tolist())
    assert producers == ["monkey_predictor"] * 2 + ["oracle_readout"] * 2 + ["shuffled"] * 2
    assert len(PredictedResponses()) == 6 and len(PredictedResponses.Split()) == 18
    # MTL-Monkey and MTL-Shuffled at 1:1 and 2:1 (sweep), MTL-Oracle at 1:1 only; two seeds each
    families = sorted((MTLModel.family_of(k), r["output"]["batch_ratio"], r["seed"])
                      for k, r in zip(MTLModel.keys(order_by="KEY"), MTLModel.to_dicts(order_by="KEY")))
    assert families == sorted((f, r, s) for f, r in [("MTL-Monkey", "1:1"), ("MTL-Monkey", "2:1"), ("MTL-Oracle", "1:1"),
                                                    ("MTL-Shuffled", "1:1"), ("MTL-Shuffled", "2:1")] for s in (1, 2))
    assert len(MTLCheckpoint()) == 0
    for row in MTLModel.to_dicts():
        assert 0 <= row["test_accuracy"] <= 1 and row["sigma_c"] > 0 and row["sigma_n"] > 0
        assert row["seed"] == (ResponseSource & row).fetch1("producer_seed")
    # one evaluation table for every neural model: predictors, Oracle readouts, ten MTL heads
    kinds = sorted((NeuralModel * NeuralEvaluation).to_arrays("kind").tolist())
    assert kinds == ["monkey_predictor"] * 2 + ["mtl"] * 10 + ["oracle_readout"] * 2
    assert len(NeuralEvaluation.Unit()) == 14 * NeuralEvaluation.to_arrays("n_units")[0]
    assert len(Family & {"experiment": "tiny"}) == 8


@pytest.mark.portable
def test_shuffled_responses_permute_each_unit_of_the_original(tiny_graph):
    from pipeline.responses import shuffle_per_neuron, shuffle_seed_for
    from schemas.responses import PredictedResponses, ResponseSource

    def stacked(producer, seed):
        key = (ResponseSource & {"producer": producer, "producer_seed": seed}).fetch1("KEY")
        parts = {r["split"]: np.asarray(r["responses"]) for r in (PredictedResponses.Split & key).to_dicts()}
        return np.concatenate([parts[s] for s in sorted(parts)])

    original, shuffled = stacked("monkey_predictor", 1), stacked("shuffled", 1)
    assert original.shape == shuffled.shape and original.dtype == np.float32
    assert np.array_equal(np.sort(original, axis=0), np.sort(shuffled, axis=0))
    assert all(not np.array_equal(original[:, u], shuffled[:, u]) for u in range(original.shape[1]))
    # each producer seed has its own permutations, not one shuffle applied to every seed
    assert shuffle_seed_for(0, 1) != shuffle_seed_for(0, 2)
    for seed in (1, 2):
        original = stacked("monkey_predictor", seed)
        assert np.array_equal(stacked("shuffled", seed), shuffle_per_neuron(original, shuffle_seed_for(0, seed)))
        assert not np.array_equal(stacked("shuffled", seed), shuffle_per_neuron(original, 0))


@pytest.mark.backend_specific
def test_the_diagram_shows_which_producer_each_family_depends_on(tiny_graph):
    import datajoint as dj

    from schemas import connection
    from schemas.mtl import MTLModel
    from schemas.predictor import MonkeyPredictor
    from schemas.responses import OracleReadout, PredictedResponses, ResponseSource

    graph = connection.connection().dependencies
    graph.load()
    ancestors = nx.ancestors(graph, MTLModel.full_table_name)
    assert {PredictedResponses.full_table_name, ResponseSource.full_table_name} <= ancestors
    # each producer feeds its own Part of the response catalog, drawn with its master:
    # MonkeyPredictor -> ResponseSource.FromPredictor | ResponseSource -> PredictedResponses -> MTLModel
    for producer, part in ((MonkeyPredictor, ResponseSource.FromPredictor), (OracleReadout, ResponseSource.FromOracle)):
        assert graph.has_edge(producer.full_table_name, part.full_table_name)
        assert graph.has_edge(ResponseSource.full_table_name, part.full_table_name)
    diagram = dj.Diagram(tiny_graph[2][0].schema)
    for module in tiny_graph[2][1:]:
        diagram += dj.Diagram(module.schema)
    edges = [line.strip() for line in diagram.make_mermaid().splitlines() if "-->" in line]

    def drawn(parent, child):
        return any(e.split(" --> ")[0].endswith(parent) and e.split(" --> ")[1].endswith(child) for e in edges)

    assert drawn("MonkeyPredictor", "ResponseSource_FromPredictor") and drawn("OracleReadout", "ResponseSource_FromOracle")
    assert drawn("ResponseSource", "PredictedResponses") and drawn("PredictedResponses", "MTLModel")


@pytest.mark.portable
def test_tin_tc_is_made_once_reproducibly_and_every_model_is_evaluated(tiny_graph):
    from pipeline.corruptions import corrupt_set
    from pipeline.evaluation import unpack
    from schemas.corruption import Corruption, CorruptionSet
    from schemas.evaluation import ClassifierModel, Evaluation
    from schemas.images import ImageDataset

    source = {"image_dataset": "tiny-tin", "corruption_source": "tin-tc"}
    assert len(CorruptionSet & source) == 70
    assert not (CorruptionSet & (Corruption & {"corruption": "glass_blur"}).proj())
    rgb = ImageDataset().rgb(source, "test")
    clean = np.asarray((ImageDataset.Split & source & {"split": "test"}).fetch1("images"))
    assert rgb.shape == clean.shape + (3,)
    for corruption, severity in (("zoom_blur", 3), ("brightness", 4)):
        stored = np.asarray((CorruptionSet & source & {"corruption": corruption, "severity": severity}).fetch1("images"))
        # TIN-TC is grey(corrupt(rgb)), not corrupt(grey replicated): for brightness they differ
        assert np.array_equal(stored, corrupt_set(rgb, corruption, severity, seed=0, workers=1, progress=False))
    from_grey = corrupt_set(clean, "brightness", 4, seed=0, workers=1, progress=False)
    assert not np.array_equal(stored, from_grey)
    kinds = sorted(ClassifierModel.to_arrays("kind").tolist())
    assert kinds == ["baseline"] * 2 + ["mtl"] * 10 + ["oracle"] * 2 + ["oracle_stage1"] * 2
    assert len(Evaluation & source) == 16 and len(Evaluation.Condition & source) == 16 * 70
    for row in (Evaluation.Condition & source).to_dicts(limit=20):
        assert row["accuracy"] == unpack(row["correct"], row["n_images"]).mean()


@pytest.mark.portable
def test_robustness_scores_and_the_regression(tiny_graph):
    from pipeline.corruptions import TIN_TC
    from schemas.evaluation import Evaluation
    from schemas.robustness import Robustness, RobustnessRegression, family_members

    source = {"image_dataset": "tiny-tin", "corruption_source": "tin-tc", "experiment": "tiny"}
    families = sorted(Robustness.to_arrays("family").tolist())
    assert families == ["Baseline", "MTL-Monkey", "MTL-Monkey ratio sweep", "MTL-Oracle", "MTL-Shuffled",
                        "MTL-Shuffled ratio sweep", "Oracle"]
    baseline = (Robustness & source & {"family": "Baseline"}).fetch1()
    assert baseline["score"] == pytest.approx(1.0) and baseline["mce"] == pytest.approx(1.0)
    for row in (Robustness & source).to_dicts():
        assert row["score_low"] <= row["score"] <= row["score_high"] and row["repetitions"] == 250
        key = {k: row[k] for k in Robustness.primary_key}
        assert len(Robustness.PerCorruption & key) == 14 and len(Robustness.PerCategory & key) == 4
    # the score, recomputed from the accuracies through the DataJoint API
    def mean_accuracy(family):
        members, _ = family_members({"experiment": "tiny", "family": family}, "tiny-tin")
        rows = (Evaluation.Condition & members & {"corruption_source": "tin-tc"}).to_dicts()
        return {c: np.mean([r["accuracy"] for r in rows if r["corruption"] == c]) for c in TIN_TC}

    base, mtl = mean_accuracy("Baseline"), mean_accuracy("MTL-Monkey")
    expected = np.mean([mtl[c] / base[c] for c in TIN_TC])
    assert (Robustness & source & {"family": "MTL-Monkey"}).fetch1("score") == pytest.approx(expected)
    assert len(Robustness.Member & source & {"family": "MTL-Monkey ratio sweep"}) == 4
    # the regression of each sweep: robustness ~ clean accuracy + neural FEVe
    assert sorted(RobustnessRegression.to_arrays("family").tolist()) == ["MTL-Monkey ratio sweep", "MTL-Shuffled ratio sweep"]
    for row in RobustnessRegression.to_dicts():
        assert row["n_models"] == 4
        key = {k: row[k] for k in RobustnessRegression.primary_key}
        terms = {t["term"]: t for t in (RobustnessRegression.Term & key).to_dicts()}
        assert sorted(terms) == ["clean_accuracy", "intercept", "neural"]
        # refit from the stored data points: least squares by numpy gives the stored coefficients
        points = (RobustnessRegression.Member & key).to_dicts(order_by="classifier_id")
        design = np.column_stack([np.ones(len(points)), [p["clean_accuracy"] for p in points], [p["neural"] for p in points]])
        coefficients, *_ = np.linalg.lstsq(design, np.array([p["robustness"] for p in points]), rcond=None)
        stored = [terms[t]["coefficient"] for t in ("intercept", "clean_accuracy", "neural")]
        assert row["design_rank"] == np.linalg.matrix_rank(design)
        if row["design_rank"] < 3:  # models at chance share one accuracy: nothing is determined, all null
            assert stored == [None] * 3 and row["r_squared"] is None
        else:
            assert stored == pytest.approx(coefficients.tolist(), rel=1e-6, abs=1e-9)
        # and the data points are the family members' own scores and accuracies
        members = {m["classifier_id"]: m for m in (Robustness.Member & key).to_dicts()}
        assert sorted(members) == [p["classifier_id"] for p in points]
        for p in points:
            assert p["robustness"] == pytest.approx(members[p["classifier_id"]]["robustness"])
            assert p["clean_accuracy"] == pytest.approx(members[p["classifier_id"]]["clean_accuracy"])


@pytest.mark.backend_specific
def test_readme_sql_matches_the_datajoint_api(tiny_graph):
    from pathlib import Path

    from populate import queries
    from schemas.evaluation import ClassifierModel, Evaluation
    from schemas.robustness import Robustness

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in queries.QUERIES:
        assert queries.render(name) in readme, f"README lacks the query {name!r}"
    params = {"experiment": "tiny", "source": "tin-tc"}
    rows = queries.run("robustness per family", **params)
    api = (Robustness & {"experiment": "tiny", "corruption_source": "tin-tc"}).to_dicts(order_by="family")
    assert [r[0] for r in rows] == [a["family"] for a in api]
    assert [float(r[1]) for r in rows] == pytest.approx([a["score"] for a in api])
    categories = queries.run("robustness per family and category", **params)
    assert len(categories) == 4 * len(api)
    per_severity = queries.run("accuracy per severity", **params)
    conditions = (ClassifierModel * Evaluation.Condition & {"corruption_source": "tin-tc"}).to_dicts()
    for kind, severity, accuracy, count in per_severity:
        chosen = [c["accuracy"] for c in conditions if c["kind"] == kind and c["severity"] == severity]
        assert int(count) == len(chosen) and float(accuracy) == pytest.approx(np.mean(chosen))


@pytest.mark.portable
def test_tiny_imagenet_c_import_is_a_corruption_source_that_evaluations_name(tiny_graph, tmp_path, python, worker_env):
    import subprocess

    from pipeline.images.tin_c import write_tiny_imagenet_c
    from schemas.corruption import CorruptionSource
    from schemas.evaluation import ClassifierModel, Evaluation
    from schemas.images import ImageDataset

    from .helpers import REPO

    test = (ImageDataset.Split & {"image_dataset": "tiny-tin", "split": "test"}).fetch1()
    wnids = (ImageDataset.Class & {"image_dataset": "tiny-tin"}).to_arrays("wnid", order_by="class_index").tolist()
    root = write_tiny_imagenet_c(tmp_path / "Tiny-ImageNet-C", np.asarray(test["images"]), np.asarray(test["labels"]),
                                 wnids, ["fog", "pixelate"], [1, 2])
    bad = tmp_path / "bad"
    (bad / "sparkle" / "1").mkdir(parents=True)

    def cli(path, name):
        return subprocess.run([python, "-m", "populate", "ingest", "tiny-imagenet-c", str(path), "--name", name,
                               "--image-dataset", "tiny-tin"], cwd=REPO, env=worker_env, capture_output=True, text=True, timeout=300)

    out = cli(bad, "broken")
    assert out.returncode == 2 and "sparkle" in out.stderr and "Traceback" not in out.stderr
    assert not (CorruptionSource & {"corruption_source": "broken"})
    out = cli(root, "tic")
    assert out.returncode == 0, out.stderr
    source = {"image_dataset": "tiny-tin", "corruption_source": "tic"}
    assert (CorruptionSource & source).fetch1("kind") == "tiny-imagenet-c"
    assert len(CorruptionSource.Imported & source) == 4
    baselines = (ClassifierModel & {"kind": "baseline"}).proj()
    try:
        assert Evaluation.populate(baselines, source)["success_count"] == 2
        assert len(Evaluation.Condition & source) == 2 * 4
    finally:  # the shared graph is left as it was found
        (CorruptionSource & source).delete()
    assert not (Evaluation & source)


@pytest.mark.portable
def test_reconstructions_controls_saliency_and_norm_ratios(tiny_graph):
    from schemas.evaluation import ClassifierModel
    from schemas.reconstruction import (NormConstraint, Reconstruction, ReconstructionTarget, SaliencyNormRatio,
                                        SpectralControl)
    from schemas.saliency import SKIMAGE_SCENES, SaliencyMap

    assert len(ReconstructionTarget()) == 2 and len(ReconstructionTarget.Image()) == 4
    reconstructable = len(ClassifierModel & "kind in ('baseline', 'oracle', 'mtl')")
    assert len(Reconstruction()) == 2 * reconstructable  # each model: noisy and natural targets
    norms = NormConstraint.to_arrays("norm").tolist()
    assert len(Reconstruction.Image()) == len(Reconstruction()) * 2 * len(norms)
    methods = dict(zip(*(Reconstruction * ClassifierModel).to_arrays("kind", "method")))
    assert methods["mtl"].startswith("sgd-lr5") and methods["baseline"].startswith("adam-lr0.01")
    from schemas.reconstruction import ReconstructionMethod

    reductions = dict(zip(*(Reconstruction * ClassifierModel * ReconstructionMethod).to_arrays("kind", "reduction")))
    assert reductions == {"mtl": "mean", "baseline": "sum", "oracle": "sum"}
    for row in Reconstruction.Image.to_dicts(limit=40):
        assert row["achieved_norm"] <= row["norm"] + 1e-3 and np.asarray(row["reconstruction"]).shape == (64, 64)
    assert len(SpectralControl.Image()) == len(Reconstruction.Image())
    assert len(SaliencyMap.Image()) == len(SKIMAGE_SCENES)
    for row in SaliencyMap.Image.to_dicts():
        density = np.asarray(row["density"])
        assert np.asarray(row["mask"]).dtype == bool and density.sum() == pytest.approx(1.0, abs=1e-4)
    assert len(SaliencyNormRatio()) == reconstructable  # the natural target set, one saliency model
    for row in SaliencyNormRatio.Image.to_dicts():
        assert 0 <= row["rho_original"] <= 1 and 0 <= row["rho_reconstruction"] <= 1
        assert row["ratio"] == pytest.approx((row["rho_reconstruction"] - row["rho_original"]) / (1 - row["rho_original"]))


@pytest.mark.portable
def test_deepgaze_without_weights_fails_and_says_why(tiny_graph):
    from schemas.saliency import SaliencyMap, SaliencyModel

    SaliencyModel.insert1({"saliency_model": "deepgaze2", "kind": "deepgaze2", "weights_path": "/nonexistent/deepgaze2.pt"})
    try:
        result = SaliencyMap.populate({"saliency_model": "deepgaze2"}, reserve_jobs=True, suppress_errors=True)
        assert result["success_count"] == 0 and len(result["error_list"]) == 1
        assert "weights file" in str(result["error_list"][0][1])
        assert not (SaliencyMap & {"saliency_model": "deepgaze2"})
    finally:  # the shared graph is left as it was found
        (SaliencyMap.jobs & {"saliency_model": "deepgaze2"}).delete_quick()
        (SaliencyModel & {"saliency_model": "deepgaze2"}).delete()


@pytest.mark.portable
def test_report_figures_exist_and_match_the_database(tiny_graph, tmp_path):
    from populate.report import _flatten, write_report
    from schemas.evaluation import ClassifierModel
    from schemas.neural import NeuralEvaluation, NeuralModel
    from schemas.reconstruction import Reconstruction, SaliencyNormRatio
    from schemas.robustness import Robustness, RobustnessRegression

    report = write_report(tmp_path / "report", experiment="tiny")
    index = tmp_path / "report" / "index.html"
    assert report["index"] == str(index) and index.stat().st_size > 0
    names = ["fig3a_categories", "fig3b_overall", "fig3c_regression", "fig5_reconstructions", "fig6_saliency_mask",
             "fig7_saliency"]
    assert sorted(report["figures"]) == sorted(names) and not report["skipped"]
    text = index.read_text()
    import csv

    for name in names:
        path = tmp_path / "report" / f"{name}.png"
        assert report["figures"][name]["path"] == str(path) and path.stat().st_size > 1000 and f"{name}.png" in text
        # the plotted numbers beside the figure, one per row
        with open(tmp_path / "report" / f"{name}.csv") as f:
            table = list(csv.DictReader(f))
        assert f"{name}.csv" in text
        assert [row["quantity"] for row in table] == [q for q, _ in _flatten(report["figures"][name]["values"])] != []
    # the table of every family's robustness with its interval, as in the database, and its CSV
    stored = {r["family"]: r for r in (Robustness & {"experiment": "tiny", "corruption_source": "tin-tc"}).to_dicts()}
    assert sorted(r["family"] for r in report["robustness"]) == sorted(stored) != []
    with open(tmp_path / "report" / "robustness.csv") as f:
        written = {row["family"]: row for row in csv.DictReader(f)}
    assert "robustness.csv" in text and sorted(written) == sorted(stored)
    for family, row in stored.items():
        assert float(written[family]["score"]) == pytest.approx(row["score"])
        assert float(written[family]["score_low"]) == pytest.approx(row["score_low"])
        assert float(written[family]["score_high"]) == pytest.approx(row["score_high"])
    from schemas.saliency import SaliencyMap

    mask = report["figures"]["fig6_saliency_mask"]["values"]
    stored = (SaliencyMap.Image & {k: mask[k] for k in ("saliency_set", "image_id", "saliency_model")}).fetch1()
    assert mask["salient_fraction"] == pytest.approx(stored["salient_fraction"])
    assert mask["density_on_mask"] > mask["salient_fraction"]  # the salient pixels hold more than their share
    assert "virtual-tiny (virtual monkey)" in text and "experiment tiny" in text
    values = {name: report["figures"][name]["values"] for name in names}
    source = {"experiment": "tiny", "corruption_source": "tin-tc"}

    def main(rows):
        return [r for r in rows if not r["family"].endswith("ratio sweep")]

    assert values["fig3b_overall"] == pytest.approx({r["family"]: r["score"] for r in main((Robustness & source).to_dicts())})
    assert values["fig3a_categories"] == pytest.approx(
        {f"{r['family']}/{r['category']}": r["score"] for r in main((Robustness.PerCategory & source).to_dicts())
         if r["score"] is not None})
    for family, fit in values["fig3c_regression"].items():
        key = {**source, "image_dataset": "tiny-tin", "family": family}
        neural = (RobustnessRegression.Term & key & {"term": "neural"}).fetch1()
        assert (fit["b_neural"], fit["p"]) == pytest.approx((neural["coefficient"], neural["p"]))
        assert sorted(fit["neural"]) == pytest.approx(sorted((RobustnessRegression.Member & key).to_arrays("neural").tolist()))
    assert sorted(values["fig3c_regression"]) == ["MTL-Monkey ratio sweep", "MTL-Shuffled ratio sweep"]
    # one row per family, its seed-1 model; every norm's reconstruction of noisy target 0
    rows = values["fig5_reconstructions"]
    assert sorted(rows) == ["Baseline", "MTL-Monkey", "MTL-Oracle", "MTL-Shuffled", "Oracle"]
    for family, row in rows.items():
        model = {"image_dataset": "tiny-tin", "classifier_id": row["classifier_id"]}
        assert (ClassifierModel & model).fetch1("seed") == 1 == row["seed"]
        stored = (Reconstruction.Image & model & {"target_set": "noisy-test", "target_index": 0}).to_dicts()
        assert row["achieved_norm"] == pytest.approx({f"{r['norm']:g}": r["achieved_norm"] for r in stored})
    # Figure 7: MTL-Monkey's ratios against the Oracle's, the Baseline's and its own controls
    ids = {f: row["classifier_id"] for f, row in rows.items()}

    def ratio(family, attr, norm):
        key = {"image_dataset": "tiny-tin", "classifier_id": ids[family], "target_set": "saliency", "norm": float(norm)}
        return (SaliencyNormRatio.Image & key).to_arrays(attr, order_by="target_index").tolist()

    for norm, panel in values["fig7_saliency"].items():
        assert panel["Oracle"]["x"] == pytest.approx(ratio("Oracle", "ratio", norm))
        assert panel["Baseline"]["x"] == pytest.approx(ratio("Baseline", "ratio", norm))
        assert panel["MTL-Monkey control"]["x"] == pytest.approx(ratio("MTL-Monkey", "ratio_control", norm))
        assert panel["Oracle"]["y"] == pytest.approx(ratio("MTL-Monkey", "ratio", norm)) and len(panel["Oracle"]["y"]) == 2
    # the neural table: every evaluated model, the Monkey Predictors with their virtual ceiling
    neural = {r["neural_model_id"]: r for r in report["data"]["neural"]}
    stored = (NeuralModel * NeuralEvaluation).to_dicts()
    assert sorted(neural) == sorted(r["neural_model_id"] for r in stored)
    for r in stored:
        for attr in ("test_corr", "fev_e", "n_units_selected", "fev_e_selected", "ceiling", "fraction_of_ceiling"):
            assert neural[r["neural_model_id"]][attr] == pytest.approx(r[attr])
        # Figure 3C's measure: FEVe over the units that pass Cadena et al.'s fev >= 0.15
        units = (NeuralEvaluation.Unit & {k: r[k] for k in NeuralEvaluation.primary_key}).to_dicts()
        passing = [u["fev_e"] for u in units if u["fev"] is not None and u["fev"] >= 0.15]
        assert r["n_units_selected"] == len(passing) and 0 < len(passing) <= len(units)
        assert r["fev_e_selected"] == pytest.approx(np.nanmean(passing))
    predictors = [r for r in neural.values() if r["model"] == "Monkey Predictor"]
    assert len(predictors) == 2 and all(r["virtual"] and r["ceiling"] is not None for r in predictors)


@pytest.mark.portable
def test_the_start_here_notebook_runs_headless(tiny_graph, tmp_path):
    from pathlib import Path

    import nbformat
    from nbclient import NotebookClient

    root = Path(__file__).resolve().parents[2]
    notebook = nbformat.read(root / "notebooks" / "start_here.ipynb", as_version=4)
    # the notebook names its experiment in a cell, as a user would edit it; the kernel
    # inherits the test database's settings from the environment
    (first,) = [cell for cell in notebook.cells if "EXPERIMENT = 'demo'" in cell.source]
    first.source = first.source.replace("EXPERIMENT = 'demo'", "EXPERIMENT = 'tiny'")
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(root / "notebooks")}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the figure
    text = "".join(o.get("text", "") for o in outputs)
    assert "new evaluations" in text and "__robustness" in text


@pytest.mark.portable
def test_every_trained_model_loads_in_eval_mode_without_its_training_data(tiny_graph, monkeypatch):
    """Evaluation and reconstruction build each model from its stored DataInfo: loading one
    must not read an image split, a recording or a set of predicted responses."""
    import torch

    from schemas.classifier import Classifier, OracleStage2
    from schemas.images import ImageDataset
    from schemas.mtl import MTLModel
    from schemas.predictor import MonkeyPredictor
    from schemas.recording import NeuralDataset
    from schemas.responses import OracleReadout, PredictedResponses

    def refuse(*args, **kwargs):
        raise AssertionError("loading a trained model read its training data")

    monkeypatch.setattr(ImageDataset, "build", refuse)
    monkeypatch.setattr(NeuralDataset, "build", refuse)
    monkeypatch.setattr(PredictedResponses, "load", refuse)
    for table in (Classifier, OracleStage2, MTLModel, MonkeyPredictor, OracleReadout):
        key = table.keys(order_by="KEY")[0]
        assert "data_info" in (table & key).fetch1("output")
        model = table().load_model(key, device="cpu")
        assert not model.training and all(not m.training for m in model.modules()), table.__name__
        weights = table().load_state_dict(key)
        assert all(torch.equal(v.cpu(), weights[k]) for k, v in model.state_dict().items()), table.__name__


@pytest.mark.portable
def test_every_classification_family_trains_under_one_budget_rule_and_says_why_it_stopped(tiny_graph):
    from populate.profiles import BUDGETED, profile
    from schemas.classifier import Classifier, OracleStage2
    from schemas.mtl import MTLModel
    from schemas.registry import TrainerConfig

    entries, _, _ = tiny_graph
    budget = profile("tiny")["budget"]
    keys = [entries[name] for name in BUDGETED] + list(entries["mtl_ratios"].values())
    for key in keys:
        config = (TrainerConfig & key).fetch1("trainer_config")
        assert {k: config[k] for k in budget} == budget, key
    for table in (Classifier, OracleStage2, MTLModel):
        for output in table.to_arrays("output"):
            assert output["epochs_run"] <= budget["max_epochs"]
            assert output["stop_reason"].startswith(("plateau", "epoch budget")), output["stop_reason"]


@pytest.mark.backend_specific
def test_robustness_waits_until_every_member_and_the_reference_are_evaluated(tiny_graph):
    """The key source (one query) agrees with a member-by-member check, and holds a family
    back while one of its models, or one of its reference's, lacks an evaluation."""
    from schemas.evaluation import Evaluation
    from schemas.experiment import Family
    from schemas.robustness import Robustness, family_members, reference_family

    source = {"image_dataset": "tiny-tin", "corruption_source": "tin-tc"}

    def checked_one_by_one() -> set[str]:
        def ready(family):
            members, planned = family_members({"experiment": "tiny", "family": family}, "tiny-tin")
            return bool(members) and len(members) >= planned and all(Evaluation & {**m, **source} for m in members)

        families = (Family & {"experiment": "tiny"} & "kind != 'monkey_predictor'").to_arrays("family").tolist()
        if not ready(reference_family("tiny", "tiny-tin")["family"]):
            return set()
        return {f for f in families if ready(f)}

    def key_source() -> set[str]:
        return {k["family"] for k in (Robustness.key_source & source).keys()}

    assert key_source() == checked_one_by_one() == set(Robustness.to_arrays("family").tolist())

    class Rollback(Exception):
        pass

    for family in ("MTL-Monkey", "Baseline"):
        member = family_members({"experiment": "tiny", "family": family}, "tiny-tin")[0][0]
        with pytest.raises(Rollback), Evaluation.connection.transaction:
            (Evaluation.Condition & member & source).delete_quick()
            (Evaluation & member & source).delete_quick()
            assert family not in key_source()
            assert key_source() == checked_one_by_one()
            if family == "Baseline":  # the reference unevaluated holds back every family
                assert key_source() == set()
            raise Rollback
    assert len(Evaluation & source) == 16


@pytest.mark.backend_specific
def test_the_regression_waits_until_every_members_mtl_head_is_scored(tiny_graph):
    from schemas.evaluation import ClassifierModel
    from schemas.neural import NeuralEvaluation, NeuralModel
    from schemas.robustness import Robustness, RobustnessRegression

    def key_source() -> set[str]:
        return {k["family"] for k in RobustnessRegression.key_source.keys()}

    assert key_source() == set(RobustnessRegression.to_arrays("family").tolist())
    member = (Robustness.Member & {"family": "MTL-Monkey ratio sweep"}).keys(limit=1)[0]
    mtl = (ClassifierModel.FromMTL & {k: member[k] for k in ("image_dataset", "classifier_id")}).fetch1()
    fields = ("image_dataset", "responses_id", "model_fn", "model_hash", "trainer_fn", "trainer_hash", "seed")
    head = (NeuralModel.FromMTL & {k: mtl[k] for k in fields}).proj()

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), NeuralEvaluation.connection.transaction:
        (NeuralEvaluation.Unit & head).delete_quick()
        (NeuralEvaluation & head).delete_quick()
        assert key_source() == {"MTL-Shuffled ratio sweep"}
        raise Rollback
    # a head scored but with no unit passing the selection has no FEVe to regress on
    with pytest.raises(Rollback), NeuralEvaluation.connection.transaction:
        NeuralEvaluation.update1({**(NeuralEvaluation & head).fetch1("KEY"), "fev_e_selected": None})
        assert key_source() == {"MTL-Shuffled ratio sweep"}
        raise Rollback
    assert key_source() == {"MTL-Monkey ratio sweep", "MTL-Shuffled ratio sweep"}
