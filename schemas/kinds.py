"""One declared recipe per model kind: the single place that says what each kind is.

A *kind* is a role a trained model plays in the experiment (the Baseline, the Oracle's two
stages, the Monkey Predictor, the Oracle's readout, the multi-task model). Its recipe names
the builder and trainer functions that come with the pipeline, the table that trains it,
what it consumes and produces, the family label the report gives it and the
reconstruction method it is reconstructed with. Everything that used to repeat this
knowledge derives it from here: the enums of the catalogs and of ``experiment.Family``, the
trained tables' key sources, the profiles' registrations, the report's labels.

A lab's own builder or trainer becomes a member of a kind when it is registered
(``ModelConfig().add_entry(fn, config, kind="baseline")``, or a function decorated with
:func:`declare`); :mod:`schemas.registry` stores that assignment, and from then on the
kind's table trains it and its results are evaluated, scored and reported with the kind.

This module imports no other schema module and never connects: a lab's module may import
it to declare its functions' kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """The recipe of one model kind."""

    name: str  #: stored in the catalogs' ``kind`` attributes
    table: str  #: the table (class name) whose ``make`` trains it
    builders: tuple[str, ...]  #: the pipeline's builder functions of this kind (dotted paths; the first is the default)
    trainers: tuple[str, ...]  #: the pipeline's trainer functions of this kind (dotted paths; the first is the default)
    consumes: str  #: what its table trains it on
    produces: str  #: what a trained model offers: the contract a lab's builder must keep
    label: str  #: how the report names its models
    classifier: bool = False  #: an image classifier: evaluated on corruptions (``evaluation.ClassifierModel``)
    neural: bool = False  #: predicts neural responses: scored on the recordings (``neural.NeuralModel``)
    family: str | None = None  #: the ``Family.kind`` whose members it makes (MTL: one per producer, below)
    reconstruction: str | None = None  #: ``ReconstructionMethod.for_models`` that reconstructs from it

    @property
    def builds(self) -> bool:
        """Whether its table builds a model from its own builder (the Oracle's continues its stage 1)."""
        return bool(self.builders)


KINDS: tuple[Kind, ...] = (
    Kind(
        "generic", "TrainedModel",
        builders=("pipeline.models.mlp.build_mlp",),
        # the short alias of the classification trainer, kept because stored keys name it
        trainers=("pipeline.training.train_classifier",),
        consumes="a DatasetConfig entry (dataloaders of any registered loader)",
        produces="a torch.nn.Module; the smoke check of the training path",
        label="Trained model",
    ),
    Kind(
        "baseline", "Classifier",
        builders=("pipeline.models.vgg.build_vgg_classifier",),
        trainers=("pipeline.training.classification.train_classifier",),
        consumes="an ImageDataset: clean grey images",
        produces="forward(x) -> logits on standardised (batch, 1, h, w) images; shared_block(x) -> the layer reconstructed",
        label="Baseline", classifier=True, family="baseline", reconstruction="baseline_oracle",
    ),
    Kind(
        "oracle_stage1", "Classifier",
        builders=("pipeline.models.vgg.build_vgg_classifier",),
        trainers=("pipeline.training.classification.train_oracle_stage1",),
        consumes="an ImageDataset with its RGB pixels (the corruption pool corrupts them before converting to grey)",
        produces="as baseline, plus forward_with_shared_block(x) -> (logits, shared activations)",
        label="Oracle stage 1", classifier=True,
    ),
    Kind(
        "oracle", "OracleStage2",
        # no builder of its own: a stage-2 row continues its stage-1 model (whose builder is
        # an oracle_stage1 builder), so a builder is registered as oracle_stage1
        builders=(),
        trainers=("pipeline.training.classification.train_oracle_stage2",),
        consumes="an oracle_stage1 model: its shared block frozen, the rest re-initialised and retrained clean",
        produces="as baseline, plus reinitialise_after_shared_block()",
        label="Oracle", classifier=True, family="oracle", reconstruction="baseline_oracle",
    ),
    Kind(
        "monkey_predictor", "MonkeyPredictor",
        builders=("pipeline.models.predictor.build_monkey_predictor",),
        trainers=("pipeline.training.neural.train_neural_predictor",),
        consumes="a NeuralDataset: images and spike counts per session",
        produces="predict_session(images, session) -> responses (images, units)",
        label="Monkey Predictor", neural=True, family="monkey_predictor",
    ),
    Kind(
        "oracle_readout", "OracleReadout",
        builders=("pipeline.models.predictor.build_oracle_readout",),
        trainers=("pipeline.training.neural.train_oracle_readout",),
        consumes="an Oracle (frozen) and a NeuralDataset",
        produces="predict_session(images, session) -> responses (images, units)",
        label="Oracle readout", neural=True,
    ),
    Kind(
        "mtl", "MTLModel",
        builders=("pipeline.models.mtl.build_mtl_model",),
        trainers=("pipeline.training.mtl.train_mtl",),
        consumes="PredictedResponses: an ImageDataset with every image's predicted V1 responses",
        produces="as baseline, plus predict_session(images, session) for its neural head",
        label="MTL", classifier=True, neural=True, reconstruction="mtl",
    ),
)

BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}

#: the MTL family each producer of predicted responses makes: (``Family.kind``, report label)
MTL_FAMILY_OF_PRODUCER: dict[str, tuple[str, str]] = {
    "monkey_predictor": ("mtl_monkey", "MTL-Monkey"),
    "oracle_readout": ("mtl_oracle", "MTL-Oracle"),
    "shuffled": ("mtl_shuffled", "MTL-Shuffled"),
}
#: the producer of each MTL family kind
PRODUCER_OF_FAMILY: dict[str, str] = {family: producer for producer, (family, _) in MTL_FAMILY_OF_PRODUCER.items()}

#: ``experiment.Family.kind`` values: one per kind that forms a family, and one per MTL producer
FAMILY_KINDS: tuple[str, ...] = tuple(k.family for k in KINDS if k.family) + tuple(PRODUCER_OF_FAMILY)
#: family kinds whose models learn from recordings (their families name a neural dataset)
NEURAL_FAMILY_KINDS: tuple[str, ...] = tuple(k.family for k in KINDS if k.family and k.neural) + tuple(PRODUCER_OF_FAMILY)
#: ``evaluation.ClassifierModel.kind`` values
CLASSIFIER_KINDS: tuple[str, ...] = tuple(k.name for k in KINDS if k.classifier)
#: ``neural.NeuralModel.kind`` values
NEURAL_KINDS: tuple[str, ...] = tuple(k.name for k in KINDS if k.neural)


def get(name: str) -> Kind:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown model kind {name!r}; kinds are {sorted(BY_NAME)}") from None


def of_table(table: str) -> tuple[Kind, ...]:
    """The kinds that table ``table`` (a class name) trains, in declaration order."""
    return tuple(k for k in KINDS if k.table == table)


def of_family(family_kind: str) -> Kind:
    """The kind whose models are the members of families of ``family_kind``."""
    if family_kind in PRODUCER_OF_FAMILY:
        return BY_NAME["mtl"]
    for k in KINDS:
        if k.family == family_kind:
            return k
    raise KeyError(f"unknown family kind {family_kind!r}; family kinds are {list(FAMILY_KINDS)}")


def reconstructed_by(method_models: str) -> tuple[str, ...]:
    """The kinds a ``ReconstructionMethod`` with ``for_models = method_models`` reconstructs from."""
    return tuple(k.name for k in KINDS if k.reconstruction == method_models)


def builtin_kinds(role: str, fn_path: str) -> tuple[str, ...]:
    """The kinds that list ``fn_path`` among their own builders (``role="model"``) or trainers."""
    return tuple(k.name for k in KINDS if fn_path in (k.builders if role == "model" else k.trainers))


def enum(values: tuple[str, ...]) -> str:
    """A DataJoint enum type over ``values``."""
    return "enum(" + ", ".join(f"'{v}'" for v in values) + ")"


#: the attribute :func:`declare` sets on a function
DECLARED_ATTR = "pipeline_kinds"


def declare(*names: str) -> Callable:
    """Decorator: the kinds a lab's builder or trainer is trained as, declared with it::

        @declare("baseline")
        def build_small_cnn(dataloaders, seed, width=1.0): ...

    ``ModelConfig().add_entry(build_small_cnn, {...})`` then needs no ``kind=``.
    """
    for name in names:
        get(name)

    def mark(fn: Callable) -> Callable:
        setattr(fn, DECLARED_ATTR, tuple(names))
        return fn

    return mark
