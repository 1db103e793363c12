from pipeline import Recognizer

rec = Recognizer.from_checkpoint("runs/demo/version_0/checkpoints/best.ckpt", device="auto")

result = rec.predict("clip.mp4")          # one video; an unreadable one raises UnreadableVideoError
print(result.label, result.probabilities, result.frame_indices, result.decode_seconds, result.model_seconds)

for row in rec.predict_many(["clip.mp4", "videos/"]):   # batched; the rows predict.py writes
    print(row["path"], row["status"], row["label"], row["probability"])

timeline = rec.timeline("match.mp4", window=2.0, stride=0.5)
for event in timeline.events:
    print(event.label, event.start, event.end, event.peak_probability)
timeline.write("match_timeline/")         # match.windows.csv, match.events.csv, match.png
