import json

from utils.io import write_report


def test_a_report_name_keeps_its_dots_and_drops_a_given_extension(tmp_path):
    write_report(tmp_path / "animals_t0.6", {"fid": 0.05}, "| fid |")
    write_report(tmp_path / "animals_t0.8", {"fid": 0.04}, "| fid |")  # another run, not the same file again
    assert json.loads((tmp_path / "animals_t0.6.json").read_text()) == {"fid": 0.05}
    assert json.loads((tmp_path / "animals_t0.8.json").read_text()) == {"fid": 0.04}
    assert (tmp_path / "animals_t0.6.md").read_text() == "| fid |\n"
    write_report(tmp_path / "people.json", {"fid": 0.01}, "t")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["animals_t0.6.json", "animals_t0.6.md", "animals_t0.8.json",
                                                         "animals_t0.8.md", "people.json", "people.md"]
