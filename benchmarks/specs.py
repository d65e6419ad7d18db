"""What each benchmark family runs and which numbers it reports, as data for ``benchmarks.results``.

A family is a list of runs. A run is one ``cli.py`` process (``fit --test_after_fit true`` unless it says
otherwise) of one lab config, with the family's full-data overrides, the recipe's own overrides and, for a
variant of a compare spec, that variant's overrides from ``configs/compare/<spec>.yaml``. Its metrics are the
rows it writes to ``docs/results/<family>.json``, each beside the report's number. Rows of baselines computed
by the driver itself (scikit-learn, the naive forecasts) come from the functions of ``benchmarks.baselines``
named by ``after``; their lab is ``<lab>[<baseline>]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Metric:
    """One result row: where the number is read from, and the report's number beside it.

    ``read``: ``test`` (the run's ``summary.json`` test metrics, ``test/<name>``), ``best`` / ``last`` (the best
    or last epoch value of ``<split>/<name>`` in ``metrics.csv``, best by the metric's direction), or
    ``phase1`` / ``phase2`` (a two-phase fine-tuning run's ``phases`` in ``summary.json``).
    """

    name: str
    split: str = "test"
    read: str = "test"
    lab: str = ""  # the row's lab when it is not the run's (one run, several rows)
    report_value: float | None = None
    report_note: str = ""


@dataclass(frozen=True)
class Run:
    """One ``cli.py`` process of a lab config and the rows it yields."""

    lab: str  # the config's stem, with ``[variant]`` for a variant of it
    config: str  # under configs/labs/
    metrics: tuple[Metric, ...] = ()
    data: str = ""  # a key of the family's ``data``: the overrides that point the lab at the full data
    args: tuple[str, ...] = ()  # overrides of the recipe (also under --quick)
    full_args: tuple[str, ...] = ()  # budgets and caps of the full run (dropped under --quick)
    quick_args: tuple[str, ...] = ()  # what a --quick run needs beyond the tiny limits to reach its rows
    compare: str = ""  # configs/compare/<compare>.yaml ...
    variant: str = ""  # ... whose variant's overrides this run adds
    subcommand: str = "fit"
    needs: str = ""  # the lab of an earlier run of the family ...
    needs_options: tuple[str, ...] = ()  # ... whose best checkpoint each of these options receives
    seeds: int = 1  # > 1: one run per seed (training and split seed); the rows are the mean over seeds
    after: str = ""  # a function of benchmarks.baselines: rows computed beside the run (baselines)


@dataclass(frozen=True)
class Family:
    """The runs of one ``docs/results/<family>.json``; ``data``: kind -> overrides, ``{root}`` the data root."""

    runs: tuple[Run, ...]
    data: dict[str, tuple[str, ...]] = field(default_factory=dict)
    threads: int = 0  # torch threads per run (OMP_NUM_THREADS); 0: the environment's


def acc(report_value: float | None = None, note: str = "", split: str = "test", read: str = "test") -> Metric:
    return Metric("acc", split, read, report_value=report_value, report_note=note)


CIFAR_SUBSET = "50k training images; ours: the 7k CIFAR subset"
TEMPERATURES = ("--data.init_args.path", "{root}/daily_min_temperatures")
PM25 = ("--data.init_args.path", "{root}/india_air_quality")
# both fine-tuning phases within a quick run: one epoch each
QUICK_PHASES = ("--trainer.max_epochs", "2", "--trainer.callbacks.init_args.head_epochs", "1")
TEXT_PREDICT = ["Justice League is terrible. I hated it.", "Avengers was great!!"]


def _series(lab: str, data: str, report_note: str) -> Run:
    return Run(
        lab,
        f"series/{lab}.yaml",
        (Metric("rmse", report_note=report_note), Metric("mae"), Metric("baseline_rmse"), Metric("baseline_mae")),
        data=data,
        args=("--seed_everything", "42"),
        after="series_baselines",
    )


def _compare(lab: str, config: str, variants: dict[str, Metric], data: str, **kw) -> tuple[Run, ...]:
    return tuple(Run(f"{lab}[{v}]", config, (m,), data=data, compare=lab, variant=v, **kw) for v, m in variants.items())


VISION = Family(
    data={
        "mnist": ("--data.init_args.path", "{root}/mnist"),
        "cifar": ("--data.init_args.path", "{root}/cifar10_jpg_subset/cifar10_train_first1000perclass.tar.gz"),
    },
    runs=(
        Run("mnist_mlp", "vision/mnist_mlp.yaml", (acc(0.9775),), data="mnist"),
        Run("mnist_mlp_improved", "vision/mnist_mlp_improved.yaml", (acc(),), data="mnist"),
        Run("mnist_mlp_theory", "vision/mnist_mlp_theory.yaml", (acc(None, "not run in the report"),), data="mnist"),
        Run("mnist_cnn", "vision/mnist_cnn.yaml", (acc(0.9802),), data="mnist"),
        Run("mnist_cnn_improved", "vision/mnist_cnn_improved.yaml", (acc(),), data="mnist"),
        *_compare(
            "gd_variants",
            "vision/gd_variants.yaml",
            {
                "full_batch": acc(0.2548, split="train", read="last"),
                "minibatch_64": acc(0.9912, split="train", read="last"),
            },
            "mnist",
        ),
        # batch 1 is 810k optimizer steps an epoch on the full set: capped (the row's command says how)
        Run(
            "gd_variants[batch_1]",
            "vision/gd_variants.yaml",
            (acc(0.1041, "diverges in both", split="train", read="last"),),
            data="mnist",
            compare="gd_variants",
            variant="batch_1",
            full_args=("--trainer.limit_train_batches", "3000"),
        ),
        *_compare(
            "cifar_optimizers",
            "vision/cifar_optimizers.yaml",
            {"SGD": acc(0.4865, CIFAR_SUBSET), "Adam": acc(0.7015, CIFAR_SUBSET), "RMSprop": acc(0.6868, CIFAR_SUBSET)},
            "cifar",
        ),
        *_compare(
            "cifar_bn_augment",
            "vision/cifar_bn_augment.yaml",
            {
                "baseline": acc(0.7287, CIFAR_SUBSET),
                "bn": acc(None, "not run in the report"),
                "augment": acc(None, "not run in the report"),
                "bn_augment": acc(0.7692, CIFAR_SUBSET),
            },
            "cifar",
        ),
        Run("cifar_bn_augment_improved", "vision/cifar_bn_augment_improved.yaml", (acc(),), data="cifar"),
        *_compare(
            "cifar_vgg_resnet",
            "vision/cifar_vgg_resnet.yaml",
            {
                "SimpleCNN": acc(0.5201, CIFAR_SUBSET),
                "VGG16": acc(0.6373, CIFAR_SUBSET),
                "ResNet18": acc(0.6474, CIFAR_SUBSET),
            },
            "cifar",
        ),
        *_compare(
            "cifar_vgg_resnet_improved",
            "vision/cifar_vgg_resnet_improved.yaml",
            {"SimpleCNN": acc(), "VGG16": acc(), "ResNet18": acc()},
            "cifar",
        ),
        Run("feature_maps", "vision/feature_maps.yaml", (acc(None, "no number in the report"),), data="cifar"),
        Run(
            "early_stopping",
            "vision/early_stopping.yaml",
            (
                Metric("loss", "val", "best", report_value=0.5434, report_note="real cats vs dogs"),
                acc(),
            ),
            data="cifar",
        ),
        # classes 0-4 pretrain the backbone that transfer_learning transfers to classes 5-9
        Run("transfer_pretrain", "vision/transfer_pretrain.yaml", (acc(None, "classes 0-4 only"),), data="cifar"),
        Run(
            "transfer_learning[transfer]",
            "vision/transfer_learning.yaml",
            (
                Metric("acc", read="phase2", report_value=0.9201, report_note="ImageNet weights, flowers"),
                Metric("acc", read="phase1", lab="transfer_learning[head_only]"),
            ),
            data="cifar",
            compare="transfer_learning",
            variant="transfer",
            quick_args=QUICK_PHASES,
            needs="transfer_pretrain",
            needs_options=("--model.init_args.net.init_args.weights",),
        ),
        Run(
            "transfer_learning[scratch]",
            "vision/transfer_learning.yaml",
            (Metric("acc", read="phase2"),),
            data="cifar",
            compare="transfer_learning",
            variant="scratch",
            quick_args=QUICK_PHASES,
        ),
    ),
)

_TREC = "trec"
_RT = "rt"
TEXT = Family(
    data={
        "trec": ("--data.init_args.dataset", "trec", "--data.init_args.path", "{root}/trec"),
        "rt": ("--data.init_args.dataset", "rt_polarity", "--data.init_args.path", "{root}/rt_polarity"),
        "imdb": (
            "--data.init_args.dataset",
            "imdb",
            "--data.init_args.path",
            "{root}/imdb_sample/imdb_small.csv.gz",
            "--data.init_args.files.text_column",
            "review",
            "--data.init_args.files.label_column",
            "sentiment",
        ),
    },
    runs=(
        Run("trec_finetune", "text/trec_finetune.yaml", (acc(0.995, "the fine label leaked into the text"),), _TREC),
        Run(
            "trec_transformer", "text/trec_transformer.yaml", (acc(0.904, "validation accuracy, with the leak"),), _TREC
        ),
        Run(
            "trec_prefix_tuning",
            "text/trec_prefix_tuning.yaml",
            (acc(0.672, "validation accuracy after 100 epochs"),),
            _TREC,
        ),
        Run(
            "trec_prefix_tuning[head_only]",
            "text/trec_prefix_tuning.yaml",
            (acc(),),
            _TREC,
            args=("--model.init_args.net.init_args.prefix_length", "0"),
        ),
        Run("sentiment_rnn", "text/sentiment_rnn.yaml", (acc(0.885, "IMDB reviews (88.5-89.0%)"),), _RT),
        Run(
            "sentiment_rnn[GRU]",
            "text/sentiment_rnn.yaml",
            (acc(0.883, "IMDB reviews"),),
            _RT,
            args=("--model.init_args.net.init_args.cell", "gru"),
        ),
        Run("sentiment_rnn_improved", "text/sentiment_rnn_improved.yaml", (acc(),), _RT),
        Run("sentiment_bow_mlp", "text/sentiment_bow_mlp.yaml", (acc(0.80, "the report's set 1"),), _RT),
        Run("sentiment_bow_mlp_embedding", "text/sentiment_bow_mlp_embedding.yaml", (acc(0.87, "768-wide BERT"),), _RT),
        Run("sentiment_bert_gru", "text/sentiment_bert_gru.yaml", (acc(0.923, "bert-base on IMDB"),), _RT),
        # cross-set: trained on rt_polarity (set 1), tested on the IMDB sample (set 2), fine-tuned on it, tested on both
        *(
            run
            for lab, before, after_rt, after_imdb in (
                ("sentiment_bow_mlp", 0.76, 0.80, 0.88),
                ("sentiment_bow_mlp_embedding", 0.81, 0.83, 0.89),
            )
            for run in (
                Run(
                    f"{lab}[on IMDB]",
                    f"text/{lab}.yaml",
                    (acc(before, "the report's set 2, before fine-tuning"),),
                    "imdb",
                    subcommand="test",
                    needs=lab,
                    needs_options=("--ckpt_path",),
                ),
                Run(
                    f"{lab}[fine-tuned on IMDB]",
                    f"text/{lab}.yaml",
                    (acc(after_imdb, "the report's set 2, after fine-tuning on it"),),
                    "imdb",
                    needs=lab,
                    needs_options=("--data.init_args.from_checkpoint", "--model.init_args.weights_from"),
                ),
                Run(
                    f"{lab}[fine-tuned on IMDB, on rt_polarity]",
                    f"text/{lab}.yaml",
                    (acc(after_rt, "the report's set 1, after fine-tuning on set 2"),),
                    _RT,
                    subcommand="test",
                    needs=f"{lab}[fine-tuned on IMDB]",
                    needs_options=("--ckpt_path",),
                ),
            )
        ),
        Run(
            "sentiment_bert_gru[predict]",
            "text/sentiment_bert_gru.yaml",
            data=_RT,
            subcommand="predict",
            args=("--data.init_args.predict_texts", json.dumps(TEXT_PREDICT)),
            needs="sentiment_bert_gru",
            needs_options=("--ckpt_path",),
            after="positive_probabilities",
        ),
    ),
)

GENERATIVE = Family(
    data={"mnist": ("--data.init_args.path", "{root}/mnist")},
    runs=(
        Run(
            "denoising_ae",
            "generative/denoising_ae.yaml",
            (Metric("psnr", report_value=18.57), Metric("ssim"), Metric("psnr_noisy"), Metric("ssim_noisy")),
            "mnist",
        ),
        Run(
            "denoising_ae_improved",
            "generative/denoising_ae_improved.yaml",
            (Metric("psnr", report_note="the report's recipe: 18.57 dB"), Metric("ssim")),
            "mnist",
        ),
        Run(
            "vae",
            "generative/vae.yaml",
            (Metric("nelbo", report_value=139.27, report_note="per sample"), Metric("recon"), Metric("kl")),
            "mnist",
        ),
        Run("vae_conv", "generative/vae_conv.yaml", (Metric("nelbo"), Metric("recon"), Metric("kl")), "mnist"),
        Run(
            "gan",
            "generative/gan.yaml",
            (
                Metric("fid_mnist", "val", "best", report_note="images only"),
                Metric("fid_mnist", report_note="images only"),
            ),
            "mnist",
        ),
        Run(
            "gan_dcgan",
            "generative/gan_dcgan.yaml",
            (
                Metric("fid_mnist", "val", "best", report_note="images only"),
                Metric("fid_mnist", report_note="images only"),
            ),
            "mnist",
        ),
        # MNIST -> colour-inverted MNIST (embedded, disjoint images): the one A/B set with a known true mapping
        Run(
            "cyclegan",
            "generative/cyclegan.yaml",
            (
                Metric("psnr_ab", report_note="images only"),
                Metric("psnr_ba", report_note="images only"),
                Metric("l1_ab"),
                Metric("l1_ba"),
                Metric("cycle_l1"),
            ),
        ),
    ),
)

_MEMBRANE = "membrane"
DENSE = Family(
    data={_MEMBRANE: ("--data.init_args.path", "{root}/isbi2012_membrane/train")},
    runs=tuple(
        Run(
            lab,
            f"dense/{lab}.yaml",
            (Metric("dice", report_note=note), Metric("iou"), Metric("dice_loss", report_value=value)),
            _MEMBRANE,
            full_args=("--data.init_args.crop_size", "256"),
        )
        for lab, value, note in (
            ("unet_segmentation", 0.1683, "training Dice loss only"),
            ("unet_segmentation_smp", 0.1683, "training Dice loss only"),
            ("unet_segmentation_albumentations", None, ""),
        )
    ),
)

_CANVASES = (
    "--data.init_args.canvases.n_train",
    "2000",
    "--data.init_args.canvases.n_val",
    "200",
    "--data.init_args.canvases.n_test",
    "200",
)
DETECTION = Family(
    runs=tuple(
        Run(
            lab,
            f"dense/{lab}.yaml",
            (Metric("map_50", report_note=note), Metric("map"), Metric("map_75")),
            full_args=("--trainer.max_epochs", "20", *_CANVASES),
        )
        for lab, note in (("detection", '"mAP 1.1151" (not a mAP)'), ("detection_improved", ""))
    ),
)

# the 76k-pair file, a seeded split grouped by English sentence; 10 minutes of training per model at most
_TATOEBA = "tatoeba"
TRANSLATION = Family(
    data={_TATOEBA: ("--data.init_args.path", "{root}/tatoeba_eng_fra/fra_first76037.txt.gz")},
    threads=1,  # small recurrent nets on a shared CPU: more threads spin-wait
    runs=tuple(
        Run(
            lab,
            f"seq2seq/{lab}.yaml",
            (
                Metric("bleu", report_note=note),
                Metric("bleu_beam"),
                Metric("chrf"),
                Metric("chrf_beam"),
                Metric("ppl"),
            ),
            _TATOEBA,
            full_args=("--trainer.max_epochs", "10", "--trainer.max_time", "00:00:10:00"),
        )
        for lab, note in (
            ("translation_rnn", "training loss 1.921, no BLEU"),
            ("translation_rnn_attention", "training loss 1.715, no BLEU"),
            ("translation_transformer", "BLEU 0.3369 on its 5 training pairs"),
        )
    ),
)

SERIES = Family(
    data={"temperatures": TEMPERATURES, "pm25": PM25},
    threads=1,
    runs=(
        _series("temperature_rnn", "temperatures", "test MSE 0.0282 in scaled units"),
        _series("temperature_rnn_lstm", "temperatures", "the same 0.0282 as the RNN"),
        _series("temperature_rnn_improved", "temperatures", ""),
        _series("pm25_lstm", "pm25", "test MSE 0.0062 in scaled units"),
        _series("pm25_mlp", "pm25", "never trained in the report"),
    ),
)

_SEEDS = 3
TABULAR = Family(
    data={
        "housing": ("--data.init_args.path", "{root}"),
        "titanic": ("--data.init_args.path", "{root}"),
        "fraud": ("--data.init_args.path", "{root}"),
    },
    runs=(
        Run(
            "house_prices",
            "tabular/house_prices.yaml",
            (
                Metric("rmse", report_note="MSE 0.6742, MAE 0.5556 on sklearn's 8-feature copy (100k USD)"),
                Metric("mae"),
                Metric("r2"),
            ),
            "housing",
            after="house_prices_baselines",
        ),
        Run(
            "house_prices[mae_loss]",
            "tabular/house_prices.yaml",
            (Metric("rmse"), Metric("mae"), Metric("r2")),
            "housing",
            args=("--model.init_args.loss", "mae"),
        ),
        Run(
            "house_prices_mlp",
            "tabular/house_prices_mlp.yaml",
            (Metric("rmse"), Metric("mae"), Metric("r2")),
            "housing",
        ),
        Run(
            "house_prices_mlp_mae",
            "tabular/house_prices_mlp_mae.yaml",
            (Metric("rmse"), Metric("mae"), Metric("r2")),
            "housing",
        ),
        *(
            Run(
                f"regularization[{v}]",
                "tabular/regularization.yaml",
                (acc(0.7865, "validation accuracy on its test set") if v == "baseline" else acc(),),
                "titanic",
                compare="regularization",
                variant=v,
                seeds=_SEEDS,
                after="regularization_baseline" if v == "baseline" else "",
            )
            for v in ("baseline", "l1", "l2", "dropout")
        ),
        *(
            Run(
                f"imbalanced[{v}]",
                "tabular/imbalanced.yaml",
                (
                    Metric(
                        "f1_fraud",
                        report_value=0.56 if v == "none" else None,
                        report_note="on a 28.6%-fraud sample" if v == "none" else "",
                    ),
                    Metric("precision_fraud"),
                    Metric("recall_fraud", report_value=0.85 if v == "none" else None),
                    Metric("pr_auc"),
                    Metric("roc_auc"),
                ),
                "fraud",
                compare="imbalanced",
                variant=v,
                seeds=_SEEDS,
                after="imbalanced_baselines" if v == "none" else "",
            )
            for v in ("none", "weighted_sampler", "class_weights", "undersample", "oversample", "smote")
        ),
    ),
)

FAMILIES: dict[str, Family] = {
    "vision": VISION,
    "text": TEXT,
    "generative": GENERATIVE,
    "dense": DENSE,
    "detection": DETECTION,
    "translation": TRANSLATION,
    "series": SERIES,
    "tabular": TABULAR,
}
