from pathlib import Path

import yaml

from polypdet.train.prepare import kvasir_holdout_stems, prepare_data


def test_holdout_is_reproducible_and_order_free() -> None:
    stems = [f"img{i:03d}" for i in range(880)]
    assert kvasir_holdout_stems(stems) == kvasir_holdout_stems(reversed(stems))
    assert len(kvasir_holdout_stems(stems)) == 120


def test_layout_keeps_holdout_out_of_training(data: Path, tmp_path: Path) -> None:
    prepared = prepare_data(data, tmp_path)
    train = {p.name for p in (tmp_path / "images/train").iterdir()}
    held = {p.name for p in (tmp_path / "holdout/kvasir/images").iterdir()} | {
        p.name for p in (tmp_path / "holdout/clinicdb/images").iterdir()
    }
    assert prepared.train == len(train) == 760 + 428
    assert prepared.holdout == {"kvasir": 120, "clinicdb": 75}
    assert not train & held
    assert all((tmp_path / "images/train" / n).is_symlink() for n in list(train)[:20])  # never copies
    spec = yaml.safe_load(prepared.data_yaml.read_text())
    assert spec["names"] == {0: "polyp"}
    label = (tmp_path / "labels/train/kvasir_cju0qkwl35piu0993l0dewei2.txt").read_text().split()
    assert label[0] == "0" and all(0 < float(v) <= 1 for v in label[1:])
