"""Transcription jobs: the input schema shared by the RunPod worker and the async jobs API."""

from hark.jobs.input import AudioFetchError, AudioTooLargeError, JobInput, JobInputError

__all__ = ["AudioFetchError", "AudioTooLargeError", "JobInput", "JobInputError"]
