"""Transcription jobs: the input schema shared by the RunPod worker and the async jobs API."""

from hark.jobs.errors import AudioFetchError, AudioTooLargeError, JobInputError
from hark.jobs.input import JobInput

__all__ = ["AudioFetchError", "AudioTooLargeError", "JobInput", "JobInputError"]
