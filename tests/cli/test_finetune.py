"""`radiolatent train finetune` then `radiolatent predict --model --data`: a classifier
fine-tuned on a few labelled MBC images predicts the test split straight from its images,
and bad requests get one error line before any work."""

from __future__ import annotations

import pytest

from radiolatent.cli import main
from radiolatent.data.catalogue import read_catalogue


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    said = capsys.readouterr()
    return code, said.out, said.err


def _one_error(err: str, *words: str) -> None:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error:") and "Traceback" not in err, err
    assert all(word in lines[-1] for word in words), lines[-1]


def test_a_classifier_fine_tuned_on_40_labels_predicts_mbc_test_from_its_images(tmp_path, capsys):
    run = tmp_path / "run"
    code, said, _ = _run(capsys, "train", "finetune", "--config", "tiny", "--n-labels", 40, "--out", run)
    assert code == 0 and "on 40 labelled images of mbc:train" in said and "classifier in" in said
    out = tmp_path / "p.csv"
    code, said, _ = _run(capsys, "predict", "--model", run, "--data", "mbc:test", "--out", out)
    assert code == 0 and "fine-tuned on 40 labelled images of mbc:train" in said
    assert "rows with a known label of these classes: 104, accuracy" in said
    table = read_catalogue(out)
    assert len(table) == 104 and list(table.columns[:6]) == ["id", "ra", "dec", "p_fri", "p_frii", "prediction"]
    assert set(table["classifier"]) == {"run"}


@pytest.mark.parametrize(
    "args, words",
    [
        (["train", "finetune", "--train", "mbc:test"], ["mbc:test", "is a test split"]),
        (["train", "finetune", "--n-labels", 5000], ["--n-labels", "5000 is more than the 729 labelled rows"]),
        (["train", "finetune", "--encoder", "pixels-pca"], ["pixels-pca", "no such model"]),
        (["train", "finetune", "--encoder", "finetuned-mbc"], ["--encoder", "holds a classifier, not an encoder"]),
        (["train", "finetune", "--set", "train.encoder_lr_factor=3"], ["encoder_lr_factor"]),
        (["predict", "--model", "vdvae-cpu", "--data", "mbc:test"], ["not a fine-tuned classifier"]),
        (["predict", "--model", "finetuned-mbc"], ["--data"]),
        (["predict", "--model", "finetuned-mbc", "--data", "mbc:test", "--codes", "c.parquet"], ["--model"]),
    ],
)
def test_a_bad_request_gets_one_error_line_and_leaves_nothing(tmp_path, capsys, args, words):
    training = args[0] == "train"
    out = tmp_path / ("run" if training else "p.csv")
    code, _, err = _run(capsys, *args, "--out", out, *(["--config", "tiny"] if training else []))
    assert code == 2
    _one_error(err, *words)
    assert not out.exists()


def test_classes_can_come_from_the_explorers_label_file(tmp_path, capsys):
    from radiolatent.data.inputs import model_input
    from radiolatent.data.labels import LabelStore

    meta = model_input("frdeep-n:train").meta.head(40)
    store = LabelStore(tmp_path / "labels.jsonl")
    for i, ident in enumerate(meta["id"]):  # the explorer's interest scores, 1 and 4, as two classes
        store.add(str(ident), 4.0 if i % 2 else 1.0)
    run = tmp_path / "run"
    argv = ["train", "finetune", "--train", "frdeep-n:train", "--labels", store.path, "--config", "tiny"]
    code, said, _ = _run(capsys, *argv, "--out", run)
    assert code == 0 and "on 40 labelled images of frdeep-n:train (20 1, 20 4)" in said
    assert main(["predict", "--model", str(run), "--data", "frdeep-n:test", "--out", str(tmp_path / "p.csv")]) == 0
    assert list(read_catalogue(tmp_path / "p.csv").columns[3:5]) == ["p_1", "p_4"]
