"""Live recognition: label a camera or network stream as it plays (scripts/live.py, Recognizer.stream).

    sources.py      what a --source is (camera index, URL, file, - for stdin) and opening it; FrameConverter
                    (a decoded frame -> the CNN's input, as the timeline's PyAV reader makes it)
    reader.py       one thread per source: decode, reopen with backoff, segments and gaps, queue the frames
                    windows need
    gaps.py         where a stream's footage has a hole and how long it is, from frame arrivals and timestamps
                    (a silence, timestamps that restart or jump, a reopened source)
    frame_queue.py  the bounded queues between readers and the model (newest frames kept, drops counted)
    windows.py      the timeline's windows found as frames arrive (which frames they need, when each is
                    complete, the tail window at a segment's end)
    events.py       the timeline's event segments, decided window by window
    records.py      the JSON-lines records, latency statistics, the status line and the log's lines
    alerts.py       event records to a webhook and a command (queued, in threads, retried, counted) and the
                    JPEG of each event's peak frame
    runner.py       LiveOptions, LiveRun (the model loop: each sampled frame through the CNN once, the
                    head over a window's cached features), run_live (the script) and stream_records (the API)
"""
