"""Every shipped config trains: real videos laid out as the config expects, two training steps,
a checkpoint written that carries the config's choices.

Only the paths are pointed at a tiny data set and the model is shrunk (64 px input, 32 hidden
units); every other option comes from the config file itself.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Dict, List

import pytest
import torch
import yaml

from pipeline.demo import generate_direction_dataset
from pipeline.training.cli import build_cli, train

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
CLASSES = ["left_to_right", "right_to_left"]
SHRUNK = {"input_size": 64, "hidden_size": 32}


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """root/{train,val,test}/<class>/*.mp4: 8, 4 and 4 real H.264 clips."""
    root = tmp_path_factory.mktemp("configs") / "direction"
    return generate_direction_dataset(root, n_train=8, n_val=4, n_test=4, size=64, num_frames=16, seed=2)


def _split_folders(clips: Path, tmp: Path) -> List[str]:
    return [f"--data.root={clips}"]


def _class_folders(clips: Path, tmp: Path) -> List[str]:
    root = tmp / "videos"
    for video in clips.rglob("*.mp4"):  # root/<class>/<video>, splits carved by the data module
        (root / video.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(video, root / video.parent.name / video.name)
    return [f"--data.root={root}"]


def _list_files(clips: Path, tmp: Path) -> List[str]:
    def write(name: str, splits: List[str]) -> Path:
        videos = sorted(v for split in splits for v in (clips / split).rglob("*.mp4"))
        path = tmp / name
        path.write_text("".join(f"{v.relative_to(clips).as_posix()} {v.parent.name}\n" for v in videos))
        return path

    return [f"--data.root={clips}", f"--data.train_list={write('train.txt', ['train', 'val'])}",
            f"--data.test_list={write('test.txt', ['test'])}"]


def _ucf101_split_files(clips: Path, tmp: Path) -> List[str]:
    root, annotations = tmp / "UCF-101", tmp / "ucfTrainTestlist"
    annotations.mkdir()
    lists: Dict[str, List[str]] = {"train": [], "test": []}
    for group, video in enumerate(sorted(clips.rglob("*.mp4")), start=1):
        name = video.parent.name
        relative = f"{name}/v_{name}_g{group:02d}_c01.avi"  # one group per clip: val is carved by group
        (root / name).mkdir(parents=True, exist_ok=True)
        shutil.copy(video, root / relative)
        if video.parts[-3] == "test":
            lists["test"].append(relative)  # the official test lists carry no label
        else:
            lists["train"].append(f"{relative} {CLASSES.index(name) + 1}")
    (annotations / "classInd.txt").write_text("".join(f"{i} {name}\n" for i, name in enumerate(CLASSES, 1)))
    (annotations / "trainlist01.txt").write_text("\n".join(lists["train"]) + "\n")
    (annotations / "testlist01.txt").write_text("\n".join(lists["test"]) + "\n")
    return [f"--data.root={root}", f"--data.annotation_dir={annotations}"]


def _hmdb51_split_files(clips: Path, tmp: Path) -> List[str]:
    """HMDB51's layout and naming: root/<class>/<source>_<class>_<tags>_<n>.avi (two clips a source) and one
    <class>_test_split<N>.txt a class per split, `<video> <id> ` lines: split 1 tests the test clips, split 2
    the val clips; split 3 leaves the val clips unused."""
    root, annotations = tmp / "hmdb51", tmp / "testTrainMulti_7030_splits"
    annotations.mkdir()
    for name in CLASSES:
        lines: Dict[int, List[str]] = {1: [], 2: [], 3: []}
        for i, video in enumerate(sorted(clips.glob(f"*/{name}/*.mp4"))):
            relative = f"{name}/Movie [{i // 2}] & Co!_{name}_f_cm_np1_le_med_{i % 2}.avi"
            (root / name).mkdir(parents=True, exist_ok=True)
            shutil.copy(video, root / relative)
            split = video.parts[-3]
            ids = {1: 2 if split == "test" else 1, 2: 2 if split == "val" else 1, 3: 0 if split == "val" else 1}
            for n, lst in lines.items():
                lst.append(f"{Path(relative).name} {ids[n]} ")
        for n, lst in lines.items():
            (annotations / f"{name}_test_split{n}.txt").write_text("\n".join(lst) + "\n")
    return [f"--data.root={root}", f"--data.annotation_dir={annotations}"]


def _event_list(clips: Path, tmp: Path) -> List[str]:
    """Long videos: the clips four at a time end to end (0.64 s each), an events CSV of where each
    right_to_left clip lies in them (the class of the events), one group per video, and windows of one clip."""
    import av

    from pipeline.demo.video_writer import write_video

    root, rows = tmp / "long", ["video,label,start,end,group"]
    videos = sorted(clips.rglob("*.mp4"))
    for n in range(0, len(videos), 4):
        frames, name = [], f"long{n // 4}.mp4"
        for clip in videos[n:n + 4]:
            start = len(frames) / 25
            with av.open(str(clip)) as container:
                frames += [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
            if clip.parent.name == "right_to_left":
                rows.append(f"{name},right_to_left,{start:.3f},{len(frames) / 25:.3f},g{n}")
        write_video(root / name, frames, fps=25)
        if not any(row.startswith(name) for row in rows):
            rows.append(f"{name},,,,g{n}")
    (root / "events.csv").write_text("\n".join(rows) + "\n")
    return [f"--data.root={root}", f"--data.train_list={root / 'events.csv'}", "--data.window=0.64",
            "--data.stride=0.16"]


LAYOUTS: Dict[str, Callable[[Path, Path], List[str]]] = {
    "demo.yaml": _split_folders,
    "events.yaml": _event_list,
    "folders.yaml": _class_folders,
    "hmdb51.yaml": _hmdb51_split_files,
    "list.yaml": _list_files,
    "small.yaml": _class_folders,
    "ucf101.yaml": _ucf101_split_files,
}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_config_trains_and_writes_a_checkpoint(config, clips, tmp_path):
    assert config.name in LAYOUTS, f"add a data layout for {config.name} to this test"
    paths = LAYOUTS[config.name](clips, tmp_path)
    summary = train([
        f"--config={config}",
        *paths,
        *(f"--model.{key}={value}" for key, value in SHRUNK.items()),
        "--data.num_workers=0",
        "--data.batch_size=4",
        f"--data.cache_dir={tmp_path / 'cache'}",
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=2",
        "--trainer.limit_val_batches=1",
        "--trainer.limit_test_batches=1",
        "--trainer.enable_progress_bar=false",
        f"--trainer.logger.init_args.save_dir={tmp_path / 'runs'}",
    ])
    shipped = yaml.safe_load(config.read_text())
    events = shipped["data"].get("format") == "events"
    checkpoint = torch.load(summary["best_checkpoint"], map_location="cpu", weights_only=False)
    assert checkpoint["global_step"] == 2, "two training steps"
    hparams = checkpoint["hyper_parameters"]
    for key, value in shipped["model"].items():
        assert hparams[key] == SHRUNK.get(key, value), f"model.{key} of {config.name} did not reach the model"
    assert hparams["sampling"]["sampler"]["clip_len"] == shipped["data"]["clip_len"]
    # A window is one clip; the test clips apply to cut clips.
    assert hparams["sampling"]["sampler"]["num_clips"] == (1 if events else shipped["data"]["test_clips"])
    assert checkpoint["class_names"] == (["background", "right_to_left"] if events else CLASSES)
    assert Path(summary["log_dir"]).parent.name == shipped["trainer"]["logger"]["init_args"]["name"]
    assert "test/acc" in summary["test_metrics"]


def test_hmdb51_split_option_reaches_the_data_module(clips, tmp_path):
    """`--data.format hmdb51 --data.hmdb_split 2` on the command line: the data module reads split 2's files."""
    paths = _hmdb51_split_files(clips, tmp_path)
    cli = build_cli([*paths, "--data.format=hmdb51", "--data.hmdb_split=2", "--data.num_workers=0",
                     "--model.weights=none", f"--trainer.logger.init_args.save_dir={tmp_path / 'runs'}"])
    splits = cli.datamodule.splits
    assert splits.class_names == CLASSES
    count = {split: sum(1 for _ in clips.glob(f"{split}/*/*.mp4")) for split in ("train", "val", "test")}
    assert len(splits.test) == count["val"] and len(splits.train) + len(splits.val) == count["train"] + count["test"]
    assert {r.path.parent.name for r in splits.test} == set(CLASSES)
