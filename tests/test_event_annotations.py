"""Event annotations of long videos (events.py, soccernet.py, activitynet.py): CSV event lists, SoccerNet game
folders and ActivityNet JSON, read against small real H.264 videos whose durations are measured from the files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import make_index_video

from pipeline.data.annotations.events import (
    EVENT_END_TOLERANCE,
    AnnotatedEvent,
    parse_time,
    read_event_annotations,
)
from pipeline.data.annotations.records import AnnotationError, AnnotationWarning

FPS = 10.0


def video(path: Path, seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_index_video(path, int(seconds * FPS), fps=FPS)


def problems_of(error: pytest.ExceptionInfo) -> list[str]:
    return error.value.problems


@pytest.mark.parametrize("text, seconds", [("12.5", 12.5), ("7", 7.0), (".5", 0.5), ("1:02:03.25", 3723.25),
                                           ("02:03.5", 123.5), ("75:00", 4500.0), ("0:05", 5.0), ("-3", -3.0)])
def test_times_are_seconds_or_clock_times(text, seconds):
    assert parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "1:60", "1:2:3", "1:75:00", "nan", "inf", "12s", "1:05:"])
def test_malformed_times_are_refused(text):
    with pytest.raises(ValueError, match="malformed time"):
        parse_time(text)


def test_csv_with_seconds_clock_times_spots_an_event_free_video_and_groups(tmp_path):
    video(tmp_path / "clips" / "Match A.mp4", 4)
    video(tmp_path / "clips" / "b.mp4", 3)
    video(tmp_path / "clips" / "c.mp4", 2)
    listing = tmp_path / "events.csv"
    listing.write_text("\ufeff# camera logs\n"
                       "label,video,start,end,group,annotator\n"
                       "jump,clips/Match A.mp4,1.5,2.5,cam1,ann\n"
                       "fall,clips/match a.mp4,0:00.8,,cam1,ann\n"  # case differs: the same file
                       "jump,clips/Match A.mp4,0:00:00.2,0:01,,ann\n"
                       "kick,clips/b.mp4,2,2,cam1,ann\n"
                       ",clips/c.mp4,,,,\n", encoding="utf-8")
    found = read_event_annotations(listing)
    assert found.source == str(listing) and found.notes == []
    assert found.class_names == ["fall", "jump", "kick"]
    a, b, c = found.videos
    assert a.path == tmp_path / "clips" / "Match A.mp4" and a.group == "cam1" and a.subset is None
    assert a.events == (AnnotatedEvent("jump", 0.2, 1.0), AnnotatedEvent("fall", 0.8, 0.8),
                        AnnotatedEvent("jump", 1.5, 2.5))
    assert [e.is_spot for e in a.events] == [False, True, False]
    assert a.duration == pytest.approx(4.0) and b.duration == pytest.approx(3.0)
    assert b.events == (AnnotatedEvent("kick", 2.0, 2.0),) and b.events[0].is_spot and b.group == "cam1"
    assert c.events == () and c.group == "clips/c.mp4" and c.duration == pytest.approx(2.0)


def test_csv_class_list_root_tsv_and_text_files(tmp_path):
    video(tmp_path / "videos" / "v.mp4", 3)
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "events.tsv").write_text("video\tlabel\tstart\tend\nv.mp4\tGoal\t1\t\nv.mp4\tshot\t0.5\t1.5\n")
    found = read_event_annotations(lists / "events.tsv", root=tmp_path / "videos", class_names=["shot", "goal"])
    assert found.class_names == ["shot", "goal"]  # as given, in its order
    assert found.videos[0].events == (AnnotatedEvent("shot", 0.5, 1.5), AnnotatedEvent("goal", 1.0, 1.0))
    (lists / "events.txt").write_text("video,label,start,end\nv.mp4,Gaol,1,\n")
    with pytest.raises(AnnotationError) as error:
        read_event_annotations(lists / "events.txt", root=tmp_path / "videos", class_names=["shot", "goal"])
    assert problems_of(error) == [f"{lists / 'events.txt'}:2: unknown label 'Gaol', not one of the 2 class names; "
                                  "did you mean 'goal'?"]


def test_every_bad_csv_line_is_reported_at_once_with_its_file_and_line(tmp_path):
    video(tmp_path / "a.mp4", 4)  # 4.0 s measured from the file
    (tmp_path / "broken.mp4").write_bytes(b"not a video" * 100)
    listing = tmp_path / "events.csv"
    listing.write_text("video,label,start,end,group\n"
                       "a.mp4,jump,1,2,g\n"                 # 2: fine
                       "a.mp4,jump,x,2,g\n"                 # 3: malformed start
                       "a.mp4,jump,3,2,g\n"                 # 4: ends before it starts
                       "a.mp4,jump,-1,2,g\n"                # 5: negative
                       f"a.mp4,jump,3.5,{4 + EVENT_END_TOLERANCE - 0.1},g\n"  # 6: within the tolerance
                       "a.mp4,jump,3.5,4.7,g\n"             # 7: past the end
                       "a.mp4,land,4.6,,g\n"                # 8: a spot past the end
                       "a.mp4,jump,1,2,other\n"             # 9: another group for the same video
                       "gone.mp4,jump,1,2,\n"               # 10: missing video
                       "gone.mp4,jump,2,3,\n"               # 11: the same missing video: said once
                       "a.mp4,,1,,g\n"                      # 12: times without a label
                       "a.mp4,jump,1:2:3,,g\n"              # 13: malformed clock time
                       "a.mp4,jump\n"                       # 14: malformed row
                       "broken.mp4,jump,1,2,\n")            # 15: not a video
    with pytest.raises(AnnotationError) as error:
        read_event_annotations(listing)
    problems = problems_of(error)
    assert [p.split(": ")[0] for p in problems] == [f"{listing}:{n}" for n in (3, 4, 5, 7, 8, 9, 10, 12, 13, 14, 15)]
    by_line = {p.split(": ")[0].rsplit(":", 1)[1]: p for p in problems}
    assert "malformed time 'x'" in by_line["3"]
    assert "ends (2 s) before it starts (3 s)" in by_line["4"]
    assert "negative time" in by_line["5"]
    assert "at 3.5-4.7 s is past the end of the video (4 s measured, 0.5 s allowed)" in by_line["7"]
    assert "'land' at 4.6 s is past the end" in by_line["8"]
    assert "group 'other' differs from the group 'g' given for this video at" in by_line["9"]
    assert f"video file not found: {tmp_path / 'gone.mp4'}" in by_line["10"]
    assert "times without a label" in by_line["12"]
    assert "malformed time '1:2:3'" in by_line["13"]
    assert "malformed row" in by_line["14"]
    assert "video cannot be read" in by_line["15"] and "broken.mp4" in by_line["15"]
    assert f"{len(problems)} problems found" in str(error.value)


def test_csv_without_header_or_videos_and_a_custom_duration_probe(tmp_path):
    (tmp_path / "x.mp4").write_bytes(b"\0" * 10)  # never decoded: `durations` measures it
    cases = {"none.csv": ("x.mp4,jump,1,2\n", ":1: expected a header naming the columns video,label,start,end"),
             "empty.csv": ("# nothing\n", ": event list is empty"),
             "header.csv": ("video,label,start,end\n", ": event list has no videos")}
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(AnnotationError) as error:
            read_event_annotations(tmp_path / name)
        (problem,) = problems_of(error)
        assert problem.startswith(f"{tmp_path / name}{message}")
    (tmp_path / "ok.csv").write_text("video,label,start,end\nx.mp4,jump,0:10,0:20\n")
    measured = []
    found = read_event_annotations(tmp_path / "ok.csv", durations=lambda p: measured.append(p) or 60.0)
    assert measured == [tmp_path / "x.mp4"] and found.videos[0].duration == 60.0
    assert found.videos[0].events == (AnnotatedEvent("jump", 10.0, 20.0),)


def soccernet_game(folder: Path, annotations: list[dict], halves=("1_224p.mkv", "2.mp4")) -> Path:
    for name in halves:
        video(folder / name, 3)
    (folder / "Labels-v2.json").write_text(json.dumps({"UrlLocal": str(folder), "annotations": annotations}))
    return folder / "Labels-v2.json"


def spot(game_time: str, label: str, position) -> dict:
    return {"gameTime": game_time, "label": label, "position": position, "team": "home", "visibility": "visible"}


def test_soccernet_game_folders_halves_groups_and_a_class_filter(tmp_path):
    games = tmp_path / "SoccerNet"
    first = games / "england_epl" / "2015-2016" / "game one"
    soccernet_game(first, [spot("1 - 00:02", "Goal", "2400"), spot("1 - 00:01", "Foul", 1000),
                           spot("1 - 00:00", "Kick-off", "0"), spot("1 - 00:01", "Foul", "1900")])
    video(first / "1_720p.mkv", 3)  # a higher resolution of half 1: not the one read
    second = games / "england_epl" / "2015-2016" / "game two"
    soccernet_game(second, [spot("2 - 00:01", "Goal", "1500")])
    with pytest.warns(AnnotationWarning, match="lowest resolution"):
        found = read_event_annotations(games)
    assert [(v.path.relative_to(games).as_posix(), v.group) for v in found.videos] == [
        ("england_epl/2015-2016/game one/1_224p.mkv", "england_epl/2015-2016/game one"),
        ("england_epl/2015-2016/game one/2.mp4", "england_epl/2015-2016/game one"),
        ("england_epl/2015-2016/game two/1_224p.mkv", "england_epl/2015-2016/game two"),
        ("england_epl/2015-2016/game two/2.mp4", "england_epl/2015-2016/game two")]
    assert found.videos[0].events == (AnnotatedEvent("Kick-off", 0.0, 0.0), AnnotatedEvent("Foul", 1.0, 1.0),
                                      AnnotatedEvent("Foul", 1.9, 1.9), AnnotatedEvent("Goal", 2.4, 2.4))
    assert found.videos[1].events == () and found.videos[2].events == ()  # halves without annotations: listed
    assert found.videos[3].events == (AnnotatedEvent("Goal", 1.5, 1.5),)
    assert found.videos[0].duration == pytest.approx(3.0)
    assert found.class_names == ["Foul", "Goal", "Kick-off"]
    assert any("lowest resolution is read (e.g. 1_224p.mkv over 1_720p.mkv)" in n for n in found.notes)

    with pytest.warns(AnnotationWarning) as warned:
        goals = read_event_annotations(first / "Labels-v2.json", class_names=["goal"])  # one game, a class filter
    assert [str(w.message) for w in warned] == goals.notes and len(goals.notes) == 2
    assert goals.class_names == ["goal"] and [v.group for v in goals.videos] == ["game one", "game one"]
    assert goals.videos[0].events == (AnnotatedEvent("goal", 2.4, 2.4),)
    assert any("3 annotation(s) dropped, their labels are not in the class list: 'Foul' (2), 'Kick-off' (1)" in n
               for n in goals.notes)


def test_soccernet_problems_name_the_file_and_the_annotation(tmp_path):
    game = tmp_path / "league" / "game"
    labels = soccernet_game(game, [spot("1 - 00:01", "Goal", "1200"),
                                   spot("1 - 00:01", "Goal", "2500"),   # 1: gameTime says 1 s, position 2.5 s
                                   spot("1 - 01:10", "Goal", "70000"),  # 2: past the end of a 3 s half
                                   spot("3 - 00:01", "Goal", "1000"),   # 3: no third half
                                   spot("2 - 00:01", "Goal", "soon")],  # 4: malformed position
                            halves=("1_224p.mkv",))  # half 2 has no video
    with pytest.raises(AnnotationError) as error:
        read_event_annotations(tmp_path / "league")
    problems = problems_of(error)
    assert len(problems) == 5
    assert problems[0].startswith(f"{labels}: annotation 1 ('Goal'): position 2500 ms (2.5 s) disagrees with "
                                  "gameTime '1 - 00:01' (1 s) by more than 1 s")
    assert problems[1].startswith(f"{labels}: annotation 3: malformed gameTime '3 - 00:01'")
    assert problems[2].startswith(f"{labels}: annotation 4: malformed position 'soon'")
    assert problems[3].startswith(f"{labels}: half 2: no video file 2_*.<ext> or 2.<ext> in {game}")
    assert problems[4].startswith(f"{labels}: annotation 2: event 'Goal' at 70 s is past the end of the video")


def activitynet_file(path: Path, database: dict) -> Path:
    path.write_text(json.dumps({"version": "VERSION 1.3", "taxonomy": [], "database": database}, indent=1))
    return path


def test_activitynet_subsets_prefixes_and_groups(tmp_path):
    videos = tmp_path / "videos"
    video(videos / "abc.mp4", 4)
    video(videos / "v_-xY_9.MKV", 3)
    video(videos / "test1.mp4", 2)
    ann = activitynet_file(tmp_path / "activity_net.v1-3.min.json", {
        "abc": {"subset": "training", "duration": 4.0,
                "annotations": [{"segment": [2.0, 3.5], "label": "Long jump"},
                                {"segment": [0.5, 1.25], "label": "Long jump"}]},
        "-xY_9": {"subset": "validation", "duration": 30.0,
                  "annotations": [{"segment": [1, 3.2], "label": "Bathing dog"}]},
        "test1": {"subset": "testing", "duration": 2.0}})
    with pytest.warns(AnnotationWarning, match="30 s listed, 3 s measured"):
        found = read_event_annotations(ann, root=videos)
    assert [(v.path.name, v.subset, v.group) for v in found.videos] == [
        ("abc.mp4", "train", "abc"), ("v_-xY_9.MKV", "val", "-xY_9"), ("test1.mp4", "test", "test1")]
    assert found.videos[0].events == (AnnotatedEvent("Long jump", 0.5, 1.25), AnnotatedEvent("Long jump", 2.0, 3.5))
    assert found.videos[1].events == (AnnotatedEvent("Bathing dog", 1.0, 3.2),) and found.videos[2].events == ()
    assert found.class_names == ["Bathing dog", "Long jump"]
    assert len(found.notes) == 1 and "-xY_9: 30 s listed, 3 s measured" in found.notes[0]


def test_activitynet_problems_name_the_video_id_and_annotation(tmp_path):
    video(tmp_path / "abc.mp4", 4)
    ann = activitynet_file(tmp_path / "anet.json", {
        "abc": {"subset": "training", "annotations": [{"segment": [3.0, 1.0], "label": "Long jump"},
                                                      {"segment": [1.0], "label": "Long jump"},
                                                      {"segment": [1.0, 2.0], "label": "Skiing"}]},
        "gone": {"subset": "validation", "annotations": []},
        "odd": {"subset": "holdout", "annotations": []}})
    with pytest.raises(AnnotationError) as error:
        read_event_annotations(ann, class_names=["Long jump"])
    assert problems_of(error) == [
        f"{ann}: video 'abc', annotation 1: malformed segment [1.0], expected [start, end] in seconds",
        f"{ann}: video 'gone': no video file gone.<ext> or v_gone.<ext> in {tmp_path}",
        f"{ann}: video 'odd': unknown subset 'holdout', expected training, validation or testing",
        f"{ann}: video 'odd': no video file odd.<ext> or v_odd.<ext> in {tmp_path}",
        f"{ann}: video 'abc', annotation 0: event 'Long jump' ends (1 s) before it starts (3 s)",
        f"{ann}: video 'abc', annotation 2: unknown label 'Skiing', not one of the 1 class names"]


def test_the_format_is_picked_from_the_path_and_anything_else_is_refused(tmp_path):
    (tmp_path / "notes.xml").write_text("<a/>")
    (tmp_path / "plain.txt").write_text("a.mp4 jump\n")
    (tmp_path / "other.json").write_text(json.dumps({"videos": []}))
    (tmp_path / "Labels.json").write_text(json.dumps({"annotations": []}))
    (tmp_path / "broken.json").write_text('{"database": {\n  "abc": [1,]\n}}')
    (tmp_path / "empty_folder").mkdir()
    refused = {"notes.xml": "an unknown kind of file (.xml)", "plain.txt": "its first line is not the header",
               "other.json": "a JSON without a top-level 'database'",
               "Labels.json": "a JSON with 'annotations' (SoccerNet labels are read from files named Labels-v2.json)",
               "empty_folder": "a folder holding no Labels-v2.json"}
    for name, why in refused.items():
        with pytest.raises(AnnotationError) as error:
            read_event_annotations(tmp_path / name)
        (problem,) = problems_of(error)
        assert problem.startswith(f"{tmp_path / name}: {why}")
        assert "video,label,start,end" in problem and "ActivityNet" in problem and "Labels-v2.json files" in problem
    with pytest.raises(AnnotationError) as error:
        read_event_annotations(tmp_path / "broken.json")
    assert problems_of(error)[0].startswith(f"{tmp_path / 'broken.json'}:2: malformed JSON")
    with pytest.raises(AnnotationError, match="event annotations not found"):
        read_event_annotations(tmp_path / "missing.csv")
    with pytest.raises(AnnotationError) as error:
        activitynet_file(tmp_path / "none.json", {})
        read_event_annotations(tmp_path / "none.json")
    assert problems_of(error) == [f"{tmp_path / 'none.json'}: the annotation file has no videos ('database' is empty)"]
