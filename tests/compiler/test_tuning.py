"""edgec tune: a short budgeted search writes a database that compile reuses, results stay correct."""
import json

import edgec
from edgec.compiler.tuning import TuningDB, tune
from edgec.models.tiny import tiny_cnn
from tests.conftest import run_cli


def test_tune_then_compile_with_db(tmp_path):
    model = tiny_cnn(batch=1, size=48)
    db_path = tmp_path / "db.json"
    db = tune(model, "host", db_path, budget_s=20, verbose=False)
    assert db.records, "no kernel was tuned"
    raw = json.loads(db_path.read_text())
    assert raw["version"] == 1 and raw["records"][0]["best_us"] <= raw["records"][0]["default_us"]
    art = edgec.compile(model, out=tmp_path / "tuned", tuning_db=db_path)
    stats = art.manifest.compile_options["schedule_stats"]
    assert stats.get("tuned", 0) == len(db.records), stats  # every record found its kernel again
    assert art.manifest.compile_options["tuning_db"] == str(db_path)
    assert edgec.verify(art, model).passed
    # rerun: earlier records are kept as they were, the search continues with the rest
    again = tune(model, "host", db_path, budget_s=5, verbose=False)
    assert set(db.records) <= set(again.records)
    assert all(again.records[k] == r for k, r in db.records.items())


def test_bad_tuning_db_is_explained(tmp_path):
    bad = tmp_path / "db.json"
    bad.write_text("{}")
    proc = run_cli("compile", "ppocr-cls", "-o", str(tmp_path / "o"), "--tuning-db", str(bad))
    assert proc.returncode == 2 and "not an edgec tuning database" in proc.stderr
    assert TuningDB  # imported for the type
