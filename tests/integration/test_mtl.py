"""The multi-task stage end to end on tiny data: responses, Oracle readout, the three MTL
families and their neural evaluation, populated by a worker against a real server."""

import networkx as nx
import numpy as np


def test_all_three_families_populate_with_scoped_seeds_and_ratios(tiny_graph):
    from schemas.experiment import Family
    from schemas.mtl import MTLCheckpoint, MTLModel
    from schemas.neural import NeuralEvaluation, NeuralModel
    from schemas.responses import OracleReadout, PredictedResponses, ResponseSource

    entries, summary, _ = tiny_graph
    assert not any(summary["errors"].values()), summary
    assert len(OracleReadout()) == 1
    producers = sorted(ResponseSource.to_arrays("producer").tolist())
    assert producers == ["monkey_predictor", "oracle_readout", "shuffled"]
    assert len(PredictedResponses()) == 3 and len(PredictedResponses.Split()) == 9
    # MTL-Monkey and MTL-Shuffled at 1:1 and 2:1 (sweep), MTL-Oracle at 1:1 only; one seed
    families = sorted((MTLModel.family_of(k), r["output"]["batch_ratio"]) for k, r in zip(MTLModel.keys(), MTLModel.to_dicts()))
    assert families == [("MTL-Monkey", "1:1"), ("MTL-Monkey", "2:1"), ("MTL-Oracle", "1:1"),
                        ("MTL-Shuffled", "1:1"), ("MTL-Shuffled", "2:1")]
    assert len(MTLCheckpoint()) == 0
    for row in MTLModel.to_dicts():
        assert 0 <= row["test_accuracy"] <= 1 and row["sigma_c"] > 0 and row["sigma_n"] > 0
        assert row["seed"] == (ResponseSource & row).fetch1("producer_seed")
    # one evaluation table for every neural model: predictor, Oracle readout, five MTL heads
    kinds = sorted((NeuralModel * NeuralEvaluation).to_arrays("kind").tolist())
    assert kinds == ["monkey_predictor", "mtl", "mtl", "mtl", "mtl", "mtl", "oracle_readout"]
    assert len(NeuralEvaluation.Unit()) == 7 * NeuralEvaluation.to_arrays("n_units")[0]
    assert len(Family & {"experiment": "tiny"}) == 8


def test_shuffled_responses_permute_each_unit_of_the_original(tiny_graph):
    from schemas.responses import PredictedResponses, ResponseSource

    def stacked(producer):
        key = (ResponseSource & {"producer": producer}).fetch1("KEY")
        parts = {r["split"]: np.asarray(r["responses"]) for r in (PredictedResponses.Split & key).to_dicts()}
        return np.concatenate([parts[s] for s in sorted(parts)])

    original, shuffled = stacked("monkey_predictor"), stacked("shuffled")
    assert original.shape == shuffled.shape and original.dtype == np.float32
    assert np.array_equal(np.sort(original, axis=0), np.sort(shuffled, axis=0))
    assert all(not np.array_equal(original[:, u], shuffled[:, u]) for u in range(original.shape[1]))


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
