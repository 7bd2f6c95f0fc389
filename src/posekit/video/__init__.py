"""Poses over time: reading video, tracking people across frames, smoothing keypoints, writing results.

``io`` reads frames with timestamps and writes MP4; ``matching`` scores and assigns poses between
frames; ``tracks`` keeps identities alive; ``smoothing`` is the One Euro filter; ``pose_tracker`` ties them
to a model; ``run`` processes a whole video into JSONL / PoseTrack JSON and an annotated MP4.
"""
