"""Video: files to annotated video + CSV + summary, live streams newest-frame-first, polyp tracking.

- ``source``: video files and network streams (FFmpeg via PyAV), cameras (OpenCV) -> ``Frame``\\ s
- ``latest``: the latest-frame policy for live sources (stale frames dropped)
- ``pipeline``: ``process_video`` -- decode, inference and encode overlapped in threads
- ``live``: ``run_stream`` -- newest frame, tracked, drawn, with per-frame latency
- ``tracking``: ByteTrack ids, minimum track length, unique-polyp count
- ``records``: the per-frame CSV and the JSON summary; ``writer``: H.264/MPEG-4 encoding
- ``websocket``: the ``/api/stream`` router (JPEG frames in, tracked detections out)
- ``jobs``: uploaded videos processed in the background (RQ workers over Redis, or a thread of the service)
"""
