"""Tests for pipeline.data.annotations on real temporary folders of small fake (never decoded) video files."""
from __future__ import annotations

import csv
import os
import pickle
import warnings
from collections import Counter
from pathlib import Path

import pytest

from pipeline.data.annotations import (
    FORMAT_READERS,
    FORMATS,
    VIDEO_EXTENSIONS,
    AnnotationError,
    AnnotationWarning,
    DatasetSplits,
    VideoRecord,
    build_splits,
    find_videos,
    hmdb51_source,
    is_video_file,
    kfold_split,
    read_class_list,
    read_hmdb51_split,
    read_list_file,
    read_ucf101_split,
    read_video_list,
    scan_class_folders,
    stratified_split,
)


def touch(path: Path, data: bytes = b"\x00\x00\x01fake") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def problems_of(excinfo) -> list[str]:
    return excinfo.value.problems


def has(problems: list[str], *parts: str) -> bool:
    return any(all(p in msg for p in parts) for msg in problems)


# ---------------------------------------------------------------------------------------------- finding


def test_is_video_file_case_insensitive():
    assert VIDEO_EXTENSIONS >= {".mp4", ".avi", ".ts"}
    assert is_video_file("a/b.MP4") and is_video_file(Path("x.AvI")) and is_video_file("c.webm")
    assert not is_video_file("notes.txt") and not is_video_file("mp4")


def test_find_videos_sorted_recursive_hidden_and_single_file(tmp_path):
    for rel in ["b/2.MP4", "a/1.avi", "a/deep/3.mkv", "top.mov", "a/readme.txt", ".hidden/4.mp4", "a/._5.mp4"]:
        touch(tmp_path / rel)
    found = find_videos(tmp_path)
    assert found == sorted(found)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/1.avi", "a/deep/3.mkv", "b/2.MP4", "top.mov"]
    assert find_videos(tmp_path, recursive=False) == [tmp_path / "top.mov"]
    assert find_videos(tmp_path / "top.mov") == [tmp_path / "top.mov"]
    with pytest.raises(FileNotFoundError):
        find_videos(tmp_path / "nope")


def test_find_videos_symlink_cycle_terminates_and_linked_dir_visited_once(tmp_path):
    touch(tmp_path / "a" / "v.mp4")
    touch(tmp_path / "outside" / "w.mp4")
    os.symlink(tmp_path, tmp_path / "a" / "loop")  # cycle back to the root
    os.symlink(tmp_path / "a", tmp_path / "b_link_to_a")  # same real dir as "a"
    os.symlink(tmp_path / "outside", tmp_path / "c_ext")  # followed
    os.symlink(tmp_path / "c_ext", tmp_path / "d_ext_again")  # same real dir again
    found = find_videos(tmp_path)
    names = [p.relative_to(tmp_path).as_posix() for p in found]
    # sorted depth-first: "a" before its alias "b_link_to_a", "c_ext" before "d_ext_again" and "outside"
    assert names == ["a/v.mp4", "c_ext/w.mp4"]


# ---------------------------------------------------------------------------------------------- errors


def test_annotation_error_shows_all_up_to_limit_and_pickles():
    err = AnnotationError([f"f.txt:{i}: bad" for i in range(25)])
    text = str(err)
    assert "25 problems" in text and "f.txt:0: bad" in text and "f.txt:19: bad" in text
    assert "f.txt:20: bad" not in text and "... and 5 more" in text
    assert isinstance(err, ValueError)
    again = pickle.loads(pickle.dumps(err))
    assert again.problems == err.problems


# ---------------------------------------------------------------------------------------------- folders


def make_folders(root: Path, counts: dict[str, int], ext: str = ".mp4") -> None:
    for name, n in counts.items():
        for i in range(n):
            touch(root / name / f"{name}_{i:02d}{ext if i % 2 else ext.upper()}")


def test_scan_class_folders_flat(tmp_path):
    make_folders(tmp_path, {"walk": 3, "run": 2})
    touch(tmp_path / "run" / "sub" / "deep.webm")
    touch(tmp_path / "run" / ".hidden.mp4")
    records, names = scan_class_folders(tmp_path)
    assert names == ["run", "walk"]
    assert Counter(r.label for r in records) == {0: 3, 1: 3}
    assert all(isinstance(r, VideoRecord) and r.path.is_file() for r in records)


def test_folders_end_to_end_flat_carves_val_and_test(tmp_path):
    make_folders(tmp_path, {"a": 20, "b": 10, "c": 4})
    splits = build_splits("folders", tmp_path, val_fraction=0.2, test_fraction=0.2, seed=3)
    assert isinstance(splits, DatasetSplits) and splits.class_names == ["a", "b", "c"]
    all_paths = [r.path for s in (splits.train, splits.val, splits.test) for r in s]
    assert len(all_paths) == len(set(all_paths)) == 34
    for split in (splits.train, splits.val, splits.test):
        assert {r.label for r in split} == {0, 1, 2}
    assert Counter(r.label for r in splits.val)[0] == 4
    text = splits.summary()
    assert "3 classes, 34 videos" in text and "train" in text and "a " in text


def test_folders_pre_split_layout(tmp_path):
    make_folders(tmp_path / "train", {"jump": 3, "sit": 2, "run": 2})
    make_folders(tmp_path / "valid", {"jump": 1, "sit": 1})
    make_folders(tmp_path / "test", {"jump": 1, "run": 1, "sit": 1})
    with pytest.warns(AnnotationWarning, match="no videos in the val split: 'run'"):
        splits = build_splits("folders", tmp_path)
    assert splits.class_names == ["jump", "run", "sit"]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (7, 2, 3)
    assert all("valid" in r.path.parts for r in splits.val)
    with pytest.raises(AnnotationError, match="pre-split"):
        scan_class_folders(tmp_path)


def test_folders_pre_split_class_missing_from_train_and_missing_test_is_carved(tmp_path):
    make_folders(tmp_path / "train", {"jump": 6, "sit": 6})
    make_folders(tmp_path / "val", {"jump": 1, "sit": 1, "wave": 1})
    with pytest.raises(AnnotationError) as exc:
        build_splits("folders", tmp_path)
    assert has(problems_of(exc), "'wave'", "training split")
    (tmp_path / "val" / "wave" / "wave_00.MP4").unlink()
    with pytest.warns(AnnotationWarning):  # the now empty val/wave folder
        splits = build_splits("folders", tmp_path, test_fraction=0.34)
    assert len(splits.val) == 2 and {r.label for r in splits.test} == {0, 1}
    assert not {r.path for r in splits.test} & {r.path for r in splits.train}


def test_folders_problems_reported_together(tmp_path):
    make_folders(tmp_path, {"good": 3})
    (tmp_path / "empty_class").mkdir()
    touch(tmp_path / "txt_only" / "notes.txt")
    touch(tmp_path / "good" / "zero.mp4", b"")
    touch(tmp_path / "stray.mp4")
    with pytest.raises(AnnotationError) as exc, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_splits("folders", tmp_path)
    probs = problems_of(exc)
    assert has(probs, "empty_class", "no video files")
    assert has(probs, "txt_only", "notes.txt")
    assert has(probs, "zero.mp4", "0 bytes")
    assert len(probs) == 3, probs  # an empty folder is not reported twice
    with pytest.raises(AnnotationError, match="not found"):
        build_splits("folders", tmp_path / "missing")


# ---------------------------------------------------------------------------------------------- lists


def test_list_with_index_labels_spaces_and_csv(tmp_path):
    root = tmp_path / "videos"
    touch(root / "a" / "one.mp4")
    touch(root / "a" / "two with spaces.AVI")
    touch(root / "b" / "three.mkv")
    touch(root / "b" / "four,comma.mp4")
    lst = write(tmp_path / "train.txt", "# comment\n\na/one.mp4 0\na/two with spaces.AVI   0\r\n"
                "b/three.mkv,1\nb/four,comma.mp4 2\n")
    records = read_list_file(lst, root)
    assert [(r.path.name, r.label) for r in records] == [
        ("one.mp4", 0), ("two with spaces.AVI", 0), ("three.mkv", 1), ("four,comma.mp4", 2)]


def test_list_with_name_labels_and_class_list(tmp_path):
    root = tmp_path
    for name in ["x1.mp4", "x2.mp4", "y1.mp4", "z1.mp4"]:
        touch(root / "clips" / name)
    lst = write(tmp_path / "l.csv", "path,label\nclips/x1.mp4,walk\nclips/x2.mp4,run\nclips/y1.mp4, playing guitar\n")
    assert [r.label for r in read_list_file(lst, root)] == [2, 1, 0]  # sorted names: playing guitar, run, walk
    classes = write(tmp_path / "classes.txt", "walk\nrun\nplaying guitar\n")
    names = read_class_list(classes)
    assert names == ["walk", "run", "playing guitar"]
    lst2 = write(tmp_path / "l2.txt", "clips/x1.mp4 Walk\nclips/z1.mp4 playing guitar\nclips/y1.mp4 1\n")
    assert [r.label for r in read_list_file(lst2, root, names)] == [0, 2, 1]


def test_read_video_list_bare_labelled_csv_and_spaces(tmp_path):
    lists = tmp_path / "lists"
    text = ("\ufeff# videos to label\n\n"
            "a.mp4\n"                       # bare path
            "dir x/my clip.MP4\n"           # bare path with spaces
            "b.avi 1\n"                     # path label
            "my other clip.mkv   walk\r\n"  # path with spaces, label
            "c.webm,run\n"                  # path,label
            "noext 2\n"                     # a path without extension, label
            f"{tmp_path / 'abs.mp4'} 0\n")  # absolute: kept as is
    videos = read_video_list(write(lists / "videos.txt", text))
    assert videos == [lists / "a.mp4", lists / "dir x" / "my clip.MP4", lists / "b.avi",
                      lists / "my other clip.mkv", lists / "c.webm", lists / "noext", tmp_path / "abs.mp4"]
    assert read_video_list(write(lists / "h.txt", "video label\nx.mp4 1\n")) == [lists / "x.mp4"]
    assert read_video_list(write(lists / "empty.txt", "# nothing yet\n")) == []
    with pytest.raises(AnnotationError, match="list file not found"):
        read_video_list(lists / "missing.txt")


def test_read_video_list_reads_a_predictions_csv(tmp_path):
    rows = [["path", "status", "error", "label", "probability"],
            [str(tmp_path / "v" / "a.mp4"), "ok", "", "walk", "0.9"],
            ["rel/with, comma.mp4", "ok", "", "run", "0.8"],  # quoted by the csv writer
            ["rel/b c.mp4", "unreadable", "moov atom not found", "", ""],
            ["rel/no extension", "error", "not a video", "", ""]]
    with open(tmp_path / "preds.csv", "w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    assert read_video_list(tmp_path / "preds.csv") == [
        tmp_path / "v" / "a.mp4", tmp_path / "rel" / "with, comma.mp4", tmp_path / "rel" / "b c.mp4",
        tmp_path / "rel" / "no extension"]


def test_video_list_and_training_list_read_the_same_paths(tmp_path):
    for rel in ["a/one.mp4", "a/two with spaces.AVI", "b/three.mkv", "b/four,comma.mp4"]:
        touch(tmp_path / rel)
    lst = write(tmp_path / "train.csv", "path,label\na/one.mp4,0\na/two with spaces.AVI 0\n"
                "b/three.mkv,1\n# gone\nb/four,comma.mp4 1\n")
    assert read_video_list(lst) == [r.path for r in read_list_file(lst, None)]


def test_read_class_list_indexed_zero_and_one_based(tmp_path):
    assert read_class_list(write(tmp_path / "a.txt", "2 c\n1 b\n0 a\n")) == ["a", "b", "c"]
    assert read_class_list(write(tmp_path / "b.txt", "1 ApplyEyeMakeup\r\n2 Apply Lipstick\n")) == [
        "ApplyEyeMakeup", "Apply Lipstick"]
    with pytest.raises(AnnotationError) as exc:
        read_class_list(write(tmp_path / "c.txt", "1 a\n3 c\nnot indexed\n1 b\n"))
    probs = problems_of(exc)
    assert has(probs, "c.txt:3", "malformed") and has(probs, "c.txt:4", "duplicate class index")
    assert has(probs, "c.txt", "missing [2]")


def test_build_splits_list_end_to_end(tmp_path):
    root = tmp_path / "data"
    train_lines, val_lines = [], []
    for c in range(3):
        for i in range(8):
            touch(root / f"c{c}" / f"v{i}.mp4")
            (train_lines if i < 6 else val_lines).append(f"c{c}/v{i}.mp4 {c + 1}")
    classes = write(tmp_path / "classInd.txt", "1 zero\n2 one\n3 two\n")  # 1-based: labels are 1-based
    train = write(tmp_path / "train.txt", "\n".join(train_lines))
    val = write(tmp_path / "val.txt", "\n".join(val_lines))
    splits = build_splits("list", root, train_list=train, val_list=val, class_list=classes,
                          test_fraction=0.34, seed=1)
    assert splits.class_names == ["zero", "one", "two"]
    assert len(splits.val) == 6 and Counter(r.label for r in splits.test) == {0: 2, 1: 2, 2: 2}
    assert len(splits.train) == 12
    assert all(r.path.parent.name == f"c{r.label}" for s in (splits.train, splits.val, splits.test) for r in s)
    # without a class list, integer labels name classes "0".."K-1" (K = max + 1): "0" has no videos
    with pytest.raises(AnnotationError) as exc:
        build_splits("list", root, train_list=train, val_list=val)
    assert problems_of(exc) == ["class '0' has no videos in the training split"]


def test_list_without_class_list_integer_labels_need_every_class(tmp_path):
    touch(tmp_path / "a.mp4")
    touch(tmp_path / "b.mp4")
    lst = write(tmp_path / "t.txt", "a.mp4 0\nb.mp4 2\n")
    assert [r.label for r in read_list_file(lst, None)] == [0, 2]
    with pytest.raises(AnnotationError) as exc:
        build_splits("list", train_list=lst)
    assert problems_of(exc) == ["class '1' has no videos in the training split"]


def test_list_every_error_kind_reported_together_with_file_and_line(tmp_path):
    root = tmp_path
    touch(root / "ok.mp4")
    touch(root / "ok2.mp4")
    touch(root / "ok3.mp4")
    touch(root / "ok4.mp4")
    touch(root / "empty.mp4", b"")
    classes = write(tmp_path / "classes.txt", "walk\nrun\nidle\n")
    train = write(tmp_path / "train.txt", "\n".join([
        "ok.mp4 walk",            # 1 fine
        "missing.mp4 run",        # 2 missing file
        "empty.mp4 run",          # 3 zero bytes
        "ok2.mp4 jog",            # 4 unknown name
        "ok3.mp4 7",              # 5 index out of range
        "justapath.mp4",          # 6 malformed
        "ok.mp4 walk",            # 7 duplicate
        "ok4.mp4 wakl",           # 8 unknown with suggestion
    ]))
    val = write(tmp_path / "val.txt", "ok.mp4 run\n")  # 1: the same video as train (a leak)
    with pytest.raises(AnnotationError) as exc:
        build_splits("list", root, train_list=train, val_list=val, class_list=classes)
    probs = problems_of(exc)
    t = str(train)
    assert has(probs, f"{t}:2", "not found", "missing.mp4")
    assert has(probs, f"{t}:3", "0 bytes", "empty.mp4")
    assert has(probs, f"{t}:4", "unknown label 'jog'")
    assert has(probs, f"{t}:5", "out of range", "0..2")
    assert has(probs, f"{t}:6", "malformed")
    assert has(probs, f"{t}:7", "duplicate", f"{t}:1")
    assert has(probs, f"{t}:8", "did you mean 'walk'")
    assert has(probs, f"{val}:1", "duplicate", "different label")
    assert has(probs, "'run'", "no videos in the training split")
    assert has(probs, "'idle'", "no videos in the training split")
    assert len(probs) == 10, probs
    assert f"{t}:2" in str(exc.value)
    assert [m.split(f"{t}:")[1].split(":")[0] for m in probs if m.startswith(f"{t}:")] == [
        "2", "3", "4", "5", "6", "7", "8"]  # in line order
    assert probs[-2:] == ["class 'run' has no videos in the training split",
                          "class 'idle' has no videos in the training split"]


def test_list_mixed_labels_and_missing_list_file(tmp_path):
    touch(tmp_path / "a.mp4")
    lst = write(tmp_path / "t.txt", "a.mp4 0\na.mp4 walk\n")
    with pytest.raises(AnnotationError, match="mix class indices"):
        read_list_file(lst, tmp_path)
    with pytest.raises(AnnotationError, match="list file not found"):
        build_splits("list", tmp_path, train_list=tmp_path / "nope.txt")


def test_list_one_based_hint(tmp_path):
    touch(tmp_path / "a.mp4")
    touch(tmp_path / "b.mp4")
    lst = write(tmp_path / "t.txt", "a.mp4 1\nb.mp4 2\n")
    with pytest.raises(AnnotationError, match="1-based"):
        read_list_file(lst, tmp_path, ["x", "y"])
    assert [r.label for r in read_list_file(lst, tmp_path, ["x", "y"], index_base=1)] == [0, 1]


# ---------------------------------------------------------------------------------------------- UCF101


def make_ucf(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "UCF-101"
    ann = tmp_path / "UCF-101" / "ucfTrainTestlist"
    classes = ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]
    train_lines, test_lines = [], []
    for c, name in enumerate(classes, start=1):
        listed = "HandStandPushups" if name == "HandstandPushups" else name
        for g in range(1, 8):
            for clip in (1, 2):
                touch(root / name / f"v_{name}_g{g:02d}_c{clip:02d}.avi")
                line = f"{listed}/v_{listed}_g{g:02d}_c{clip:02d}.avi"
                (train_lines.append(f"{line} {c}") if g > 2 else test_lines.append(line))
    write(ann / "classInd.txt", "".join(f"{i} {n}\r\n" for i, n in enumerate(classes, start=1)))
    write(ann / "trainlist01.txt", "\r\n".join(train_lines) + "\r\n")
    write(ann / "testlist01.txt", "\r\n".join(test_lines) + "\r\n")
    return root, ann


def test_ucf101_split_with_casing_mismatch(tmp_path):
    root, ann = make_ucf(tmp_path)
    train, test, names = read_ucf101_split(root, ann, 1)
    assert names == ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]
    assert len(train) == 3 * 10 and len(test) == 3 * 4
    assert Counter(r.label for r in test) == {0: 4, 1: 4, 2: 4}
    hs = [r for r in train + test if r.label == 1]
    assert all(r.path.is_file() and r.path.parent.name == "HandstandPushups" for r in hs)


def test_ucf101_build_splits_val_keeps_groups_together(tmp_path):
    root, _ = make_ucf(tmp_path)
    splits = build_splits("ucf101", root, val_fraction=0.2, seed=5)  # annotation dir found under root
    assert len(splits.test) == 12 and len(splits.train) + len(splits.val) == 30
    group = lambda r: r.path.name.rsplit("_c", 1)[0]  # noqa: E731
    assert not {group(r) for r in splits.train} & {group(r) for r in splits.val}
    assert {r.label for r in splits.val} == {0, 1, 2}
    with pytest.raises(ValueError, match="1, 2 and 3"):
        build_splits("ucf101", root, ucf_split=4)


def test_ucf101_problems(tmp_path):
    root, ann = make_ucf(tmp_path)
    (root / "YoYo" / "v_YoYo_g01_c01.avi").unlink()
    with open(ann / "testlist01.txt", "a") as f:
        f.write("Unknown/v_x.avi\nnofolder.avi\n")
    with pytest.raises(AnnotationError) as exc:
        read_ucf101_split(root, ann, 1)
    probs = problems_of(exc)
    test_list = str(ann / "testlist01.txt")
    assert has(probs, test_list, "not found", "v_YoYo_g01_c01.avi")
    assert has(probs, f"{test_list}:13", "unknown class folder 'Unknown'")
    assert has(probs, f"{test_list}:14", "cannot tell the class")
    with pytest.raises(AnnotationError, match="classInd.txt: class list not found"):
        read_ucf101_split(root, tmp_path / "nowhere", 2)


# ---------------------------------------------------------------------------------------------- HMDB51


HMDB_TAGS = ("_f_cm_np1_le_med", "_h_nm_np2_fr_goo", "_u_cm_np1_ba_bad")
# Five source videos a class, in HMDB's real naming: the source's title (spaces, brackets, '!', '&',
# '(', ')', '$', a leading '#', the class name itself), then _<class>_<five tags>_<clip number>.
HMDB_SOURCES = {
    "brush_hair": ["April_09", "Blue_Like_Jazz", "My Hair [Take 2] & Me!", "#122_Cleaning_Up", "brush_hair_howto"],
    "cartwheel": ["(Rad)Schlag_die_Bank!", "Gym (Kids) [HD]", "Park & Ride", "cartwheel cartwheel", "Bl$tter"],
    "kiss": ["Bl$ttern_meiner_Tr$ume", "Kiss & Tell (1945)", "Prelinger_kiss_me", "#7 [old]", "Casablanca!"],
}


def hmdb_ids(split: int) -> dict[str, str]:
    """{video name: id} of official split `split`: per class one source test, one unused, three train."""
    ids = {}
    for name, sources in HMDB_SOURCES.items():
        for s, source in enumerate(sources):
            slot = (s + split) % len(sources)
            for n in range(3 if s % 2 else 2):
                ids[f"{source}_{name}{HMDB_TAGS[n]}_{n}.avi"] = "2" if slot == 0 else "0" if slot == 1 else "1"
    return ids


def make_hmdb(tmp_path: Path) -> tuple[Path, Path]:
    """tmp/hmdb51/<class>/<video>.avi and tmp/testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt."""
    root, ann = tmp_path / "hmdb51", tmp_path / "testTrainMulti_7030_splits"
    for video in hmdb_ids(1):
        touch(root / hmdb_class(video) / video)
    for split in (1, 2, 3):
        for name in HMDB_SOURCES:
            lines = [f"{v} {i} " for v, i in hmdb_ids(split).items() if hmdb_class(v) == name]  # trailing spaces
            write(ann / f"{name}_test_split{split}.txt", "\n".join(lines) + "\n")
    return root, ann


def hmdb_class(video: str) -> str:
    return next(name for name, sources in HMDB_SOURCES.items() if any(video.startswith(f"{s}_{name}_")
                                                                     for s in sources))


def hmdb_source(video: str) -> str:
    return next(s for s in HMDB_SOURCES[hmdb_class(video)] if video.startswith(f"{s}_"))


def test_hmdb51_source_of_real_names():
    assert hmdb51_source("April_09_brush_hair_u_nm_np1_ba_goo_0.avi", "brush_hair") == "April_09"
    assert hmdb51_source("Blue_Like_Jazz_brush_hair_h_cm_np1_ri_goo_3.avi", "brush_hair") == "Blue_Like_Jazz"
    assert (hmdb51_source("(Rad)Schlag_die_Bank!_cartwheel_f_cm_np1_le_med_0.avi", "cartwheel")
            == "(Rad)Schlag_die_Bank!")
    assert hmdb51_source("Bl$ttern_meiner_Tr$ume_kiss_h_nm_np2_fr_goo_1.avi", "kiss") == "Bl$ttern_meiner_Tr$ume"
    # the class name inside the source's title, or the source named like the class
    assert hmdb51_source("Run_Lola_run_run_f_cm_np1_ba_med_1.avi", "run") == "Run_Lola_run"
    assert hmdb51_source("brush_hair_brush_hair_h_nm_np1_fr_goo_0.avi", "brush_hair") == "brush_hair"
    assert hmdb51_source("My clip [1] & more_kiss_h_nm_np2_fr_goo_12.avi", "kiss") == "My clip [1] & more"
    # names without HMDB's tags: before the last _<class>_, else without the clip number, else the name
    assert hmdb51_source("a_kiss_b_kiss_x_3.avi", "kiss") == "a_kiss_b"
    assert hmdb51_source("holiday_7.avi", "kiss") == "holiday"
    assert hmdb51_source("holiday.avi", "kiss") == "holiday"


def test_hmdb51_each_split_picks_its_lines(tmp_path):
    root, ann = make_hmdb(tmp_path)
    for split in (1, 2, 3):
        train, test, names = read_hmdb51_split(root, ann, split)
        assert names == ["brush_hair", "cartwheel", "kiss"]
        ids = hmdb_ids(split)
        assert sorted(r.path.name for r in train) == sorted(v for v, i in ids.items() if i == "1")
        assert sorted(r.path.name for r in test) == sorted(v for v, i in ids.items() if i == "2")
        assert all(r.path.is_file() and r.path.parent == root / names[r.label] for r in train + test)
    assert read_hmdb51_split(root, ann, 1)[1] != read_hmdb51_split(root, ann, 2)[1]
    named_with_hash = [v for v in hmdb_ids(1) if v.startswith("#")]  # '#' starts a name, not a comment
    found = {r.path.name for s in (1, 2, 3) for part in read_hmdb51_split(root, ann, s)[:2] for r in part}
    assert named_with_hash and set(named_with_hash) <= found


def test_hmdb51_build_splits_val_keeps_sources_together(tmp_path):
    root, ann = make_hmdb(tmp_path)
    for split, seed in ((1, 0), (2, 5), (3, 11)):
        splits = build_splits("hmdb51", root, annotation_dir=ann, hmdb_split=split, val_fraction=0.34, seed=seed)
        ids = hmdb_ids(split)
        assert sorted(r.path.name for r in splits.test) == sorted(v for v, i in ids.items() if i == "2")
        assert sorted(r.path.name for r in splits.train + splits.val) == sorted(v for v, i in ids.items() if i == "1")
        sources = lambda part: {(r.label, hmdb_source(r.path.name)) for r in part}  # noqa: E731
        assert not sources(splits.train) & sources(splits.val), "a source video on both sides"
        assert {label for label, _ in sources(splits.val)} == {0, 1, 2}
        assert all(len({s for label, s in sources(splits.val) if label == c}) == 1 for c in range(3))
    default = build_splits("hmdb51", root, val_fraction=0.34)  # the split folder found beside root
    assert default.test == build_splits("hmdb51", root, annotation_dir=ann, val_fraction=0.34).test
    listed_only = build_splits("hmdb51", tmp_path / "not_here", annotation_dir=ann, check_files=False)
    assert len(listed_only.train) + len(listed_only.val) == list(hmdb_ids(1).values()).count("1")
    with pytest.raises(ValueError, match="1, 2 and 3"):
        build_splits("hmdb51", root, annotation_dir=ann, hmdb_split=4)


def test_hmdb51_problems_name_file_and_line(tmp_path):
    root, ann = make_hmdb(tmp_path)
    kiss = ann / "kiss_test_split1.txt"
    kiss_lines = kiss.read_text().splitlines()
    train_at = [i for i, line in enumerate(kiss_lines) if line.split()[-1] == "1"]
    missing = kiss_lines[train_at[0]].strip().rsplit(None, 1)[0]
    (root / "kiss" / missing).unlink()  # listed, not on disk
    write(kiss, "\r\n".join(kiss_lines + ["no_id_at_all.avi", "Extra_kiss_h_nm_np1_fr_goo_0.avi 3  ",
                                          kiss_lines[train_at[1]]]) + "\r\n")
    touch(root / "wave" / "Surf_wave_f_cm_np1_le_med_0.avi")  # a class folder without split files
    write(ann / "hug_test_split1.txt", "Hugs_hug_f_cm_np1_le_med_0.avi 1\n")  # a class without a folder
    cartwheel = ann / "cartwheel_test_split1.txt"
    write(cartwheel, "".join(line.replace(" 1 ", " 2 ") + "\n" for line in cartwheel.read_text().splitlines()))
    with pytest.raises(AnnotationError) as exc:
        read_hmdb51_split(root, ann, 1)
    probs = problems_of(exc)
    n = len(kiss_lines)
    assert has(probs, f"{kiss}:{train_at[0] + 1}: video file not found", str(root / "kiss" / missing))
    assert has(probs, f"{kiss}:{n + 1}: malformed line 'no_id_at_all.avi'", "<video file name> <0|1|2>")
    assert has(probs, f"{kiss}:{n + 2}: unknown split id '3'", "Extra_kiss_h_nm_np1_fr_goo_0.avi")
    assert has(probs, f"{kiss}:{n + 3}: duplicate entry", f"first at {kiss}:{train_at[1] + 1}")
    assert has(probs, str(ann / "wave_test_split1.txt"), "split file not found for the class folder",
               str(root / "wave"))
    assert has(probs, str(ann / "hug_test_split1.txt"), "class folder not found", str(root / "hug"))
    assert has(probs, str(cartwheel), "class 'cartwheel' has no training videos")
    assert not has(probs, "no videos in the training split")  # each class's problem is said once
    assert len(probs) == 7, probs
    with pytest.raises(AnnotationError, match="split folder not found"):
        read_hmdb51_split(root, tmp_path / "nowhere", 1)
    for f in ann.glob("*_test_split3.txt"):
        f.unlink()
    with pytest.raises(AnnotationError, match="no split files for split 3"):
        build_splits("hmdb51", root, annotation_dir=ann, hmdb_split=3)


# ---------------------------------------------------------------------------------------------- splitting


def records_for(counts: dict[int, int]) -> list[VideoRecord]:
    return [VideoRecord(Path(f"/d/c{c}/v{i:03d}.mp4"), c) for c, n in counts.items() for i in range(n)]


def test_stratified_split_deterministic_balanced_disjoint_covering():
    records = records_for({0: 100, 1: 20, 2: 3, 3: 1, 4: 2})
    fractions = [0.7, 0.15, 0.15]
    parts = stratified_split(records, fractions, seed=7)
    assert parts == stratified_split(list(reversed(records)), fractions, seed=7)  # order-independent
    assert parts != stratified_split(records, fractions, seed=8)
    flat = [r for p in parts for r in p]
    assert sorted(flat, key=lambda r: str(r.path)) == sorted(records, key=lambda r: str(r.path))
    assert len(set(flat)) == len(flat)
    per = [Counter(r.label for r in p) for p in parts]
    assert [per[i][0] for i in range(3)] == [70, 15, 15]
    assert [per[i][1] for i in range(3)] == [14, 3, 3]
    assert [per[i][2] for i in range(3)] == [1, 1, 1]  # >= len(fractions) videos: one in each split
    assert per[0][3] == 1 and per[0][4] >= 1  # too small: train is served first
    # another class does not change this class's split
    other = stratified_split(records_for({0: 100}), fractions, seed=7)
    assert [[r for r in p if r.label == 0] for p in parts] == other


def test_stratified_split_validates_and_zero_fraction():
    records = records_for({0: 10})
    with pytest.raises(ValueError):
        stratified_split(records, [0.5, 0.6], seed=0)
    with pytest.raises(ValueError):
        stratified_split(records, [1.2, -0.2], seed=0)
    parts = stratified_split(records, [0.8, 0.0, 0.2], seed=0)
    assert [len(p) for p in parts] == [8, 0, 2]


def test_stratified_split_is_the_same_across_versions():
    """A seed names one split for good: users compare runs across releases on the same split."""
    names = lambda part: [f"{r.label}:{r.path.stem}" for r in part]  # noqa: E731
    parts = stratified_split(records_for({0: 10, 1: 4}), [0.6, 0.2, 0.2], seed=0)
    assert [names(p) for p in parts] == [
        ["0:v001", "0:v002", "0:v003", "0:v005", "0:v006", "0:v007", "1:v001", "1:v003"],
        ["0:v004", "0:v008", "1:v002"],
        ["0:v000", "0:v009", "1:v000"]]


def test_each_format_reader_agrees_with_build_splits(tmp_path):
    assert FORMATS == tuple(FORMAT_READERS) == ("folders", "list", "ucf101", "hmdb51", "events")
    make_folders(tmp_path / "f", {"a": 4, "b": 3})
    records, names = scan_class_folders(tmp_path / "f")
    splits = build_splits("folders", tmp_path / "f", val_fraction=0.0, test_fraction=0.0)
    assert (splits.train, splits.class_names) == (records, names)
    lst = write(tmp_path / "f" / "all.txt", "".join(f"{r.path.relative_to(tmp_path / 'f')} {r.label}\n"
                                                    for r in records))
    splits = build_splits("list", train_list=lst, val_fraction=0.0, test_fraction=0.0)
    assert splits.train == read_list_file(lst, None) == records and splits.class_names == ["0", "1"]
    root, ann = make_ucf(tmp_path)
    train, test, names = read_ucf101_split(root, ann)
    splits = build_splits("ucf101", root, val_fraction=0.0)
    assert (splits.train, splits.test, splits.class_names) == (train, test, names)
    root, ann = make_hmdb(tmp_path)
    train, test, names = read_hmdb51_split(root, ann, 2)
    splits = build_splits("hmdb51", root, hmdb_split=2, val_fraction=0.0)
    assert (splits.train, splits.test, splits.class_names) == (train, test, names)


def test_build_splits_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="folders, list, ucf101"):
        build_splits("csv", tmp_path)
    with pytest.raises(ValueError, match="train_list"):
        build_splits("list", tmp_path)
    with pytest.raises(ValueError, match="only apply"):
        build_splits("folders", tmp_path, train_list="x.txt")
    with pytest.raises(ValueError, match="sum to < 1"):
        build_splits("folders", tmp_path, val_fraction=0.5, test_fraction=0.5)


def test_kfold_every_video_held_out_once_stratified_and_balanced():
    records = records_for({0: 12, 1: 7, 2: 5})
    held = [kfold_split(records, 5, fold, seed=3)[1] for fold in range(5)]
    flat = [r for fold in held for r in fold]
    assert sorted(flat, key=lambda r: str(r.path)) == sorted(records, key=lambda r: str(r.path))  # each once
    for fold in range(5):
        rest, out = kfold_split(list(reversed(records)), 5, fold, seed=3)
        assert out == held[fold] and not set(rest) & set(out) and len(rest) + len(out) == 24
        assert all(abs(Counter(r.label for r in out)[c] - n / 5) < 1 for c, n in {0: 12, 1: 7, 2: 5}.items())
    assert sorted(len(f) for f in held) == [4, 5, 5, 5, 5]  # classes continue where the last one stopped
    assert held != [kfold_split(records, 5, fold, seed=4)[1] for fold in range(5)]
    with pytest.raises(ValueError):
        kfold_split(records, 1, 0, seed=0)
    with pytest.raises(ValueError):
        kfold_split(records, 3, 3, seed=0)


def test_build_splits_cross_validation_pools_every_split_and_carves_val(tmp_path):
    make_folders(tmp_path / "train", {"jump": 8, "sit": 8})
    make_folders(tmp_path / "test", {"jump": 2, "sit": 2})
    tested = []
    for fold in range(4):
        splits = build_splits("folders", tmp_path, val_fraction=0.25, num_folds=4, fold=fold, seed=1)
        parts = [splits.train, splits.val, splits.test]
        assert sum(len(p) for p in parts) == 20 and len({r.path for p in parts for r in p}) == 20
        assert len(splits.test) == 5 and set(Counter(r.label for r in splits.test).values()) == {2, 3}
        assert {r.label for r in splits.val} == {0, 1}
        tested += splits.test
    assert len(tested) == len(set(tested)) == 20
    with pytest.raises(ValueError, match="num_folds"):
        build_splits("folders", tmp_path, num_folds=4, fold=4)
