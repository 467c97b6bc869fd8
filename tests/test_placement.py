"""The pod placement of hardware/placement.md (thoracic level, distance from the landmark,
head landmark, photo) travels from the recording's metadata to every output: ``info``,
the ``--json`` results and both HTML reports; a recording without it (every recording
made before the field existed) still loads and says it was not recorded."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from posturepod import cli
from posturepod.recordings import placement as P


def _plain(html: str) -> str:
    import html as _h
    return re.sub(r"\s+", " ", _h.unescape(re.sub(r"<[^>]+>", " ", html)))


def test_make_validates_and_defaults_the_landmark():
    p = P.make("t4", 14.46, None, "midline above the external occipital protuberance",
               "back.jpg")
    assert p == {"thorax_level": "T4", "thorax_reference": "C7", "thorax_distance_cm": 14.5,
                 "head_landmark": "midline above the external occipital protuberance",
                 "photo": "back.jpg"}
    assert P.make("t12-l1", 9)["thorax_reference"] == "iliac_crest"
    assert P.make("T12-L1", 30, "C7")["thorax_reference"] == "C7"
    assert P.make() is None
    for bad, word in [(("T13",), "T1..T12"), (("T4-L1",), "T12-L1"), (("C7",), "T1..T12"),
                      (("T4", -3), "above 0"), (("T4", 250), "at most"),
                      (("T4", "x"), "not a number"), ((None, 12.0), "thoracic level"),
                      (("T4", 10, "sternum"), "C7 or iliac-crest")]:
        with pytest.raises(ValueError, match=re.escape(word)):
            P.make(*bad)


def test_absent_or_broken_placement_is_reported_not_fatal():
    assert P.from_meta({}) == {"recorded": False, "note": P.NOT_RECORDED}
    broken = P.from_meta({"placement": {"thorax_level": "T99"}}, where="x/recording.json")
    assert broken["recorded"] is False and "x/recording.json" in broken["note"]
    assert "T1..T12" in broken["note"]
    assert P.text_lines(P.from_meta(None))[0].startswith("placement: not recorded")


@pytest.fixture(scope="module")
def flexion_dir(tmp_path_factory):
    from posturepod.sim.simulate import simulate, write_sim
    d = tmp_path_factory.mktemp("flex") / "rec"
    write_sim(simulate("flexion", 2), d)
    return d


def test_flexion_round_trip_recording_json_report(flexion_dir, tmp_path, capsys):
    """placement command -> meta.json -> info --json, import to a native recording ->
    recording.json -> flexion --json and the report's text."""
    d = tmp_path / "csv"
    shutil.copytree(flexion_dir, d)
    assert cli.main(["flexion", str(d), "--json", "--no-save"]) == 0
    before = json.loads(capsys.readouterr().out)["placement"]
    assert before == {"recorded": False, "note": P.NOT_RECORDED}      # old recordings load

    assert cli.main(["placement", str(d), "--thorax-level", "T4", "--thorax-cm", "14.5",
                     "--head-landmark", "2 cm above the external occipital protuberance",
                     "--placement-photo", "photos/back.jpg"]) == 0
    capsys.readouterr()
    want = {"recorded": True, "thorax_level": "T4", "thorax_reference": "C7",
            "thorax_distance_cm": 14.5,
            "head_landmark": "2 cm above the external occipital protuberance",
            "photo": "photos/back.jpg"}
    assert json.loads((d / "meta.json").read_text())["placement"] == {
        k: v for k, v in want.items() if k != "recorded"}
    assert cli.main(["info", str(d), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["placement"] == want

    native = tmp_path / "native"
    assert cli.main(["import", str(d), "--out", str(native)]) == 0
    capsys.readouterr()
    assert json.loads((native / "recording.json").read_text())["placement"]["thorax_level"] \
        == "T4"
    assert cli.main(["info", str(native)]) == 0
    out = capsys.readouterr().out
    assert "thoracic pod: T4 spinous process, 14.5 cm below the C7 spinous process" in out

    report = tmp_path / "flexion.html"
    assert cli.main(["flexion", str(native), "--json", "--report", str(report)]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["placement"] == want
    assert json.loads((native / "flexion.json").read_text())["placement"] == want
    text = _plain(report.read_text(encoding="utf-8"))
    assert "Pod placement" in text and "Placement not recorded" not in text
    assert "T4 spinous process, 14.5 cm below the C7 spinous process" in text
    assert "2 cm above the external occipital protuberance" in text
    assert "photos/back.jpg" in text and "Thoracic pod T4, 14.5 cm below C7" in text
    assert "the thoracic spine below T4, so lumbar = thorax − pelvis also includes" in text

    # given on the command line for one analysis: used and said so, the recording unchanged
    assert cli.main(["flexion", str(native), "--json", "--no-save", "--thorax-level",
                     "T12-L1", "--thorax-cm", "21"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["placement"]["thorax_level"] == "T12-L1"
    assert obj["placement"]["thorax_reference"] == "iliac_crest"
    assert obj["placement"]["source"] == "command line"
    assert json.loads((native / "recording.json").read_text())["placement"]["thorax_level"] \
        == "T4"
    # a bad level is a usage error before anything is analysed or written
    assert cli.main(["flexion", str(native), "--json", "--thorax-level", "T14"]) == 2
    assert "T1..T12" in capsys.readouterr().err


def test_flexion_report_says_when_the_placement_was_not_recorded(flexion_dir, tmp_path,
                                                                 capsys):
    report = tmp_path / "r.html"
    assert cli.main(["flexion", str(flexion_dir), "--no-save", "--report", str(report)]) == 0
    text = _plain(report.read_text(encoding="utf-8"))
    assert "Placement not recorded" in text and "placement not recorded" in text
    assert "posturepod placement REC --thorax-level" in text
    assert "placement: not recorded" in capsys.readouterr().out


def test_sitting_round_trip_and_a_changed_level_is_pointed_out(tmp_path, capsys):
    from posturepod.sim.simulate import simulate, write_sim
    day1, day2 = tmp_path / "P" / "day1", tmp_path / "P" / "day2"
    write_sim(simulate("sitting", 4, duration_s=300.0, rate_hz=50.0), day1)
    shutil.copytree(day1, day2)
    for day, level in ((day1, "T12-L1"), (day2, "T4")):
        assert cli.main(["placement", str(day), "--thorax-level", level,
                         "--thorax-cm", "12", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["thorax_level"] == level
    assert cli.main(["sitting", str(day1), "--json", "--patient", "P-9"]) == 0
    assert json.loads(capsys.readouterr().out)["placement"]["thorax_level"] == "T12-L1"
    report = tmp_path / "day2.html"
    assert cli.main(["sitting", str(day2), "--json", "--patient", "P-9", "--report",
                     str(report)]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["placement"] == {"recorded": True, "thorax_level": "T4",
                                "thorax_reference": "C7", "thorax_distance_cm": 12.0}
    assert json.loads((day2 / "sitting.json").read_text())["placement"] == obj["placement"]
    text = _plain(report.read_text(encoding="utf-8"))
    assert "T4 spinous process, 12 cm below the C7 spinous process" in text
    assert "Head pod landmark not recorded" in text and "Photo none recorded" in text
    assert "Different thoracic level" in text and "at T12-L1, this one at T4" in text
    # posturepod history lists the level of every session
    assert cli.main(["history", str(tmp_path / "P"), "--json"]) == 0
    got = {s["path"].split("/")[0]: s["placement"]["thorax_level"]
           for s in json.loads(capsys.readouterr().out)["sessions"]}
    assert got == {"day1": "T12-L1", "day2": "T4"}
    assert cli.main(["history", str(tmp_path / "P")]) == 0
    table = capsys.readouterr().out
    assert "thorax" in table and "T12-L1" in table and " T4 " in table


def test_record_command_stores_the_placement(tmp_path):
    """The recorder's writer keeps what the command gives it (acquire.record passes
    extra_meta through to RecordingWriter), and a recording still being written refuses
    a later placement unless --force."""
    from posturepod.recordings.data import DataError
    from posturepod.recordings.writer import RecordingWriter
    w = RecordingWriter(tmp_path / "r", protocol="sitting",
                        extra={"placement": P.make("T4", 13.0)})
    meta = json.loads((tmp_path / "r" / "recording.json").read_text())
    assert meta["placement"] == {"thorax_level": "T4", "thorax_reference": "C7",
                                 "thorax_distance_cm": 13.0}
    with pytest.raises(DataError, match="has not stopped"):
        P.write(tmp_path / "r", P.make("T5"))
    w.close()
    assert P.write(tmp_path / "r", P.make("T5")) == "recording.json"
    assert P.from_meta(json.loads((tmp_path / "r" / "recording.json").read_text()))[
        "thorax_level"] == "T5"


def test_live_captures_store_the_placement_given_before_they_start(monkeypatch, tmp_path,
                                                                   capsys):
    """record, flexion --pod and sitting --pod hand the placement to the recorder (whose
    writer stores extra_meta, test above); a bad one stops them before any pod is touched."""
    from posturepod.flexion import guide as FG
    from posturepod.pods import acquire
    from posturepod.sitting import guide as SG
    from posturepod.pods.podlink import PodError
    seen = {}

    def capture(name):
        def fake(pods, out, **kw):
            seen[name] = kw.get("extra_meta")
            raise PodError("no pods in this test")
        return fake
    monkeypatch.setattr(FG, "run_guided", capture("flexion"))
    monkeypatch.setattr(SG, "run_live", capture("sitting"))
    monkeypatch.setattr(acquire, "record", capture("record"))
    opts = ["--thorax-level", "T4", "--thorax-cm", "14", "--head-landmark", "EOP + 2 cm"]
    want = {"placement": {"thorax_level": "T4", "thorax_reference": "C7",
                          "thorax_distance_cm": 14.0, "head_landmark": "EOP + 2 cm"}}
    for cmd in ("flexion", "sitting"):
        assert cli.main([cmd, "--pod", "thorax=/dev/null", "--out", str(tmp_path / cmd),
                         *opts]) == 1
        assert seen.pop(cmd) == want
    assert cli.main(["record", "--pod", "thorax=/dev/null", "--out", str(tmp_path / "r"),
                     *opts]) == 1
    assert seen.pop("record") == want
    capsys.readouterr()
    for cmd in ("flexion", "sitting"):
        assert cli.main([cmd, "--pod", "thorax=/dev/null", "--thorax-level", "L3"]) == 2
    with pytest.raises(SystemExit) as e:
        cli.main(["record", "--pod", "thorax=/dev/null", "--out", "x", "--thorax-cm", "9"])
    assert e.value.code == 2 and not seen
    assert "thoracic level" in capsys.readouterr().err
