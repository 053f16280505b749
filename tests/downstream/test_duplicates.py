"""Duplicates ([B]): planted copies are found with their sky separation, same objects are
told from look-alikes, and on real codes the default list is short and the paper's cosine rule is reproduced."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from downstream_fixtures import random_codes, real_mirabest_griese, table_of

from radiolatent.core.errors import InputError
from radiolatent.downstream.duplicates import duplicate_rule, find_duplicates, rule_text


@pytest.fixture(scope="module")
def real():
    return real_mirabest_griese()


def test_find_duplicates_reports_planted_copy_and_its_sky_separation():
    codes = random_codes(100, seed=5)
    codes[42] = codes[17] * 1.01 + 0.001  # a near copy of row 17
    ra = np.linspace(150.0, 160.0, 100)
    dec = np.linspace(10.0, 20.0, 100)
    ra[42], dec[42] = ra[17] + 5 / 3600, dec[17]  # offset by 5" in RA
    table = table_of(codes, "first-galaxy", ra=ra, dec=dec)
    pairs = find_duplicates(table, "first-galaxy", threshold=0.99)
    assert len(pairs) == 1
    pair = pairs.iloc[0]
    assert {pair["id_a"], pair["id_b"]} == {"first-galaxy-17", "first-galaxy-42"}
    expected = SkyCoord(ra[17] * u.deg, dec[17] * u.deg).separation(SkyCoord(ra[42] * u.deg, dec[42] * u.deg))
    assert pair["separation_arcsec"] == pytest.approx(expected.arcsec, rel=1e-9)
    assert pair["separation_arcsec"] == pytest.approx(5 * np.cos(np.radians(dec[17])), rel=1e-3)
    assert pair["similarity"] > 0.999
    assert pair["kind"] == "same position"


def test_duplicates_tell_the_same_object_from_look_alikes():
    codes = random_codes(60, seed=6)
    ra, dec = np.linspace(150.0, 160.0, 60), np.linspace(10.0, 20.0, 60)
    codes[[11, 21, 31]] = codes[[10, 20, 30]]
    ra[11], dec[11] = ra[10] + 10 / 3600, dec[10]  # 10" away: the same object cut twice
    ra[30] = dec[30] = np.nan  # a source with no catalogued position
    table = table_of(codes, "first-galaxy", ra=ra, dec=dec)
    pairs = find_duplicates(table, "first-galaxy", threshold=0.999, by_position=False)
    found = {frozenset((a, b)): kind for a, b, kind in zip(pairs["id_a"], pairs["id_b"], pairs["kind"])}
    assert found == {
        frozenset({"first-galaxy-10", "first-galaxy-11"}): "same position",
        frozenset({"first-galaxy-30", "first-galaxy-31"}): "position unknown",
        frozenset({"first-galaxy-20", "first-galaxy-21"}): "look-alike",
    }
    assert list(pairs["kind"]) == ["same position", "position unknown", "look-alike"]


def test_find_duplicates_leaves_separation_unknown_without_positions():
    codes = random_codes(50, seed=6)
    codes[3] = codes[2]
    pairs = find_duplicates(table_of(codes, "frdeep-f"), "frdeep-f")
    assert len(pairs) == 1 and np.isnan(pairs["separation_arcsec"].iloc[0])


def test_default_duplicates_are_few_and_are_the_same_objects(real):
    table, _, _ = real
    both = table.assign(set="overlap")
    pairs = find_duplicates(both, "overlap", by_position=False)
    assert pairs.attrs["rule"] == {"metric": "whitened-cosine", "threshold": 0.8, "margin": 0.1}
    assert 10 <= len(pairs) <= 60, "a list a person can read"
    assert (pairs["kind"] == "same position").mean() >= 0.75  # 0.98 on the whole overlap (docs/results.md)
    assert (
        (pairs["margin"] >= 0.1).all()
        and (pairs["similarity"] >= 0.8).all()
        and set(pairs["metric"]) == {"whitened-cosine"}
    )
    paper = find_duplicates(both, "overlap", metric="cosine", by_position=False)
    assert len(paper) > 20 * len(pairs) and (paper["kind"] == "same position").mean() < 0.1


def test_metric_cosine_reproduces_the_papers_duplicates(real):
    table, _, _ = real
    griese = table[table["set"] == "first-galaxy:all"].reset_index(drop=True)
    codes = griese.filter(regex=r"^z\d+$").to_numpy(np.float64)
    unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    a, b = np.triu_indices(len(unit), 1)
    cosine = (unit @ unit.T)[a, b]
    expected = {(griese["id"][i], griese["id"][j]) for i, j in zip(a[cosine >= 0.99 + 1e-6], b[cosine >= 0.99 + 1e-6])}
    pairs = find_duplicates(table, "first-galaxy", metric="cosine", by_position=False)
    assert pairs.attrs["rule"] == {"metric": "cosine", "threshold": 0.99, "margin": None}
    assert pairs["margin"].isna().all()
    found = set(zip(pairs["id_a"], pairs["id_b"]))
    borderline = {
        (griese["id"][i], griese["id"][j])
        for i, j in zip(a[np.abs(cosine - 0.99) <= 1e-6], b[np.abs(cosine - 0.99) <= 1e-6])
    }
    assert expected <= found <= expected | borderline and len(found) > 1000


def test_duplicate_rule_defaults_and_refusals():

    assert rule_text(duplicate_rule()) == "with whitened-cosine >= 0.8, mutual nearest, margin >= 0.1"
    assert rule_text(duplicate_rule("cosine")) == "with cosine >= 0.99"
    assert duplicate_rule("whitened-cosine", threshold=0.5, margin=0.0)["margin"] == 0.0
    with pytest.raises(InputError, match="similarity metric"):
        duplicate_rule("euclidean-pca")
    with pytest.raises(InputError, match="threshold"):
        duplicate_rule("cosine", threshold=1.5)


def test_rows_at_one_position_are_reported_whatever_their_codes_unless_by_codes_alone():
    codes = random_codes(40, seed=8)  # no two codes alike
    ra, dec = np.linspace(150.0, 160.0, 40), np.linspace(10.0, 20.0, 40)
    ra[[5, 6]], dec[[5, 6]] = ra[4] + 2 / 3600, dec[4]  # one source in three epochs, 2" apart
    ra[9], dec[9] = ra[8] + 40 / 3600, dec[8]  # 40" away: another source
    table = table_of(codes, "vlass", ra=ra, dec=dec)
    pairs = find_duplicates(table, "vlass")
    assert {frozenset(p) for p in zip(pairs["id_a"], pairs["id_b"])} == {
        frozenset({"vlass-4", "vlass-5"}),
        frozenset({"vlass-4", "vlass-6"}),
        frozenset({"vlass-5", "vlass-6"}),
    }
    assert set(pairs["found_by"]) == {"position"} and set(pairs["kind"]) == {"same position"}
    assert pairs["similarity"].abs().max() < 0.8, "found by position alone: the codes are unlike"
    assert pairs.attrs["rule"]["radius_arcsec"] == 30.0
    assert find_duplicates(table, "vlass", by_position=False).empty
