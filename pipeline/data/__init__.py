"""Data: from a video file on disk to a batch of clips (or cached features) ready for a model.

In the order a video travels (reader -> sampler -> transform):

    readers/          open a file and return exactly the frames asked for, RGB uint8 [T,H,W,3], with
                      honest metadata (frames actually decodable, fps). One interface and factory
                      (`open_video`), one file per decoder backend: decord, OpenCV, PyAV; every frame
                      read goes through `iter_with_fallback` (checked output, the next decoder on failure).
    sampling.py       which frame indices form a clip of T frames: `ClipSampler`s (segment, window),
                      train-time jitter, deterministic multi-clip eval, padding of short videos,
                      and SAMPLING_DEFAULTS, the one place those defaults live. Knows indices only.
    transforms.py     the backbone's own preprocessing: `resize_crop` / `ResizeCrop` on uint8 in the
                      workers (crop, pad, stretch or the motion window to the square; readers decode
                      straight to its size), `normalize` on the device for a whole batch.
    motion_box.py     where a video moves (optical flow less the camera's motion): the square window
                      the "motion" frame fit crops each frame of that video to.
    views.py          spatial views of a decoded frame (plain, flip, zoom, left, right), cut before the
                      fit: the augmentation the feature cache keeps (data.cache_views).

Around them:

    annotations/      dataset layouts (class folders, list files, UCF101 splits) -> labelled
                      `VideoRecord`s and train / val / test splits; checks files, decodes nothing.
    datasets.py       compose records, a sampler and a reader (or the feature cache) into clip
                      datasets; an unreadable video becomes a reported error, not a failed run.
    feature_cache.py  per-frame features of a frozen backbone, computed once per video, on disk.
    workers.py        how many loader workers decode by default (one per available core).
    feature_rate.py   which frames the cache embeds (a cap per video / per second) and the nearest
                      stored frame for each frame a clip asks for.

Reading and sampling import no model (they know codecs and indices); transforms, datasets and the
feature cache take their `Preprocessing` or backbone from `models`, never the other way round.
"""
