"""Speaker diarization on ONNX Runtime, offline out of the box.

from hark.diarize import Diarizer, assign_speakers

diarizer = Diarizer.load()  # embedded GE2E encoder: no download, no token
diarization = diarizer(audio_16k_mono, max_speakers=4)
transcript = assign_speakers(transcript, diarization)
"""

from __future__ import annotations

from hark.diarize.assign import assign_speakers
from hark.diarize.channels import channel_labels, diarize_channels, merge_channel_transcripts
from hark.diarize.cluster import ClusteringOptions, check_speaker_counts
from hark.diarize.diarizer import DiarizeOptions, Diarizer
from hark.diarize.embedding import OnnxSpeakerEmbedding, SpeakerEmbedding
from hark.diarize.embedding_models import load_embedding_model
from hark.diarize.errors import (
    CheckpointFormatError,
    DiarizationError,
    ModelFormatError,
    ModelNotFoundError,
    SpeakerCountError,
    UnsafeCheckpointError,
)
from hark.diarize.result import Diarization, SpeakerTurn
from hark.diarize.segmentation import SegmentationOptions
from hark.diarize.speech import SpeechOptions

__all__ = [
    "CheckpointFormatError",
    "ClusteringOptions",
    "Diarization",
    "DiarizationError",
    "DiarizeOptions",
    "Diarizer",
    "ModelFormatError",
    "ModelNotFoundError",
    "OnnxSpeakerEmbedding",
    "SegmentationOptions",
    "SpeakerCountError",
    "SpeakerEmbedding",
    "SpeakerTurn",
    "SpeechOptions",
    "UnsafeCheckpointError",
    "assign_speakers",
    "channel_labels",
    "check_speaker_counts",
    "diarize_channels",
    "load_embedding_model",
    "merge_channel_transcripts",
]
