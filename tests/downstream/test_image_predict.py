"""Predictions straight from images by a fine-tuned classifier: the columns of predictions
from codes, probabilities averaged over the 8 orientations (so a turned image gets the
same answer), and the shipped `finetuned-mbc` scoring what its card says on MBC test."""

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from radiolatent.core.errors import InputError
from radiolatent.data.dataset import RadioDataset
from radiolatent.data.inputs import model_input
from radiolatent.downstream.image_predict import ImagePredictor
from radiolatent.models.shipped import model_path
from radiolatent.training.runs import labelled_dataset

FITS = Path(__file__).parents[1] / "data" / "first_fits"


@pytest.fixture(scope="module")
def shipped():
    return ImagePredictor(model_path("finetuned-mbc"))


@pytest.fixture(scope="module")
def mbc_test():
    return model_input("mbc:test")


def test_the_shipped_classifier_scores_its_card_on_mbc_test(shipped, mbc_test):
    found = shipped.predict(mbc_test)
    y = mbc_test.meta["label"].to_numpy()
    assert np.mean((found["prediction"] == "FRII").to_numpy() == (y == 1)) >= 0.92
    assert roc_auc_score(y, found["p_frii"]) >= 0.96
    assert not found["in_training"].any(), "no test source was trained on"


def test_predictions_have_the_columns_of_predictions_from_codes(shipped, mbc_test):
    found = shipped.predict(mbc_test)
    assert list(found.columns[:6]) == ["id", "ra", "dec", "p_fri", "p_frii", "prediction"]
    assert np.allclose(found["p_fri"] + found["p_frii"], 1)
    assert (found["prediction"] == np.where(found["p_frii"] > 0.5, "FRII", "FRI")).all()
    assert found["agreement"].between(0, 1).all() and (found["agreement"] >= 0.5).all()
    assert found["nearest_train"].str.count("mirabest:").min() == 3
    assert found["out_of_domain"].mean() < 0.2, "MBC test is the classifier's own domain"


def test_a_turned_or_flipped_image_gets_the_same_probabilities(shipped, mbc_test):
    some = slice(0, 12)
    meta = mbc_test.meta.iloc[some].reset_index(drop=True)
    turned = RadioDataset("turned", np.ascontiguousarray(np.rot90(mbc_test.images[some], 1, axes=(1, 2))), meta)
    flipped = RadioDataset("flipped", np.ascontiguousarray(mbc_test.images[some][:, :, ::-1]), meta)
    plain = shipped.predict(RadioDataset("plain", mbc_test.images[some], meta))["p_frii"]
    assert np.allclose(shipped.predict(turned)["p_frii"], plain, atol=1e-5)
    assert np.allclose(shipped.predict(flipped)["p_frii"], plain, atol=1e-5)


def test_raw_fits_from_a_folder_are_predicted_as_the_curated_images_of_the_same_sources(shipped):
    fits = shipped.predict(labelled_dataset(f"folder@{FITS}"))
    assert len(fits) == 4 and fits["ra"].between(0, 360).all()
    mirabest = labelled_dataset("mirabest:all")
    stems = [name.removesuffix(".fits") for name in fits["filename"]]  # MiraBest's own file names
    rows = [int(np.flatnonzero(mirabest.meta["id"].str.endswith(stem))[0]) for stem in stems]
    curated = shipped.predict(
        RadioDataset("curated", mirabest.images[rows], mirabest.meta.iloc[rows].reset_index(drop=True))
    )
    assert (fits["prediction"] == curated["prediction"]).all()
    assert np.abs(fits["p_frii"] - curated["p_frii"]).max() < 0.05


def test_an_encoder_is_not_a_classifier():
    with pytest.raises(InputError, match="holds a vdvae encoder, not a fine-tuned classifier"):
        ImagePredictor(model_path("vdvae-cpu"))
