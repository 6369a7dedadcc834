"""Speaker embedding models: the interface and ONNX fbank models (the embedded GE2E encoder is
`hark.diarize.ge2e`; `hark.diarize.embedding_models` picks one by name).

Any ONNX model with WeSpeaker's interface (`feats` [batch, frames, mel bins] -> `embs`
[batch, dim]) or 3D-Speaker's (`feature` -> `embedding`) plugs in: WeSpeaker ResNet34,
3D-Speaker CAM++, ERes2Net, ... Their Kaldi fbank front end runs in numpy (`hark.diarize.fbank`)
with per-window mean normalisation, as both toolkits do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from pathlib import Path

import numpy as np

from hark.diarize.errors import ModelFormatError
from hark.diarize.fbank import FbankOptions, fbank, num_frames
from hark.diarize.runtime import open_model


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norm, 1e-12)).astype(np.float32)


class SpeakerEmbedding(ABC):
    """Maps 16 kHz mono audio windows to L2-normalised speaker embeddings."""

    name: str
    dim: int
    window: float
    """Window length in seconds the model is run on when sliding over audio."""
    match_threshold: float = 0.5
    """Cosine similarity between a cluster's mean embedding and an enrolled sample above which
    they are taken to be the same speaker. 0.5 is a generic operating point for WeSpeaker and
    3D-Speaker cosine scores (not measured here); GE2E sets its own, measured value."""
    sample_rate: int = 16000

    @abstractmethod
    def embed_windows(self, audio: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
        """(len(starts), dim) embeddings of `audio[s : s + length]` for each start sample.

        Windows reaching past the end of `audio` are zero padded.
        """

    def embed_clip(self, clip: np.ndarray) -> np.ndarray:
        """One embedding of a whole clip: the normalised mean of windows covering it."""
        length = round(self.window * self.sample_rate)
        step = length // 2
        last = max(0, len(clip) - length)
        starts = np.unique(np.r_[np.arange(0, last + 1, step), last])
        return l2_normalise(self.embed_windows(clip, starts, length).mean(axis=0))


class OnnxSpeakerEmbedding(SpeakerEmbedding):
    """An ONNX embedding model fed with Kaldi fbank features.

    The front end follows the input name unless `fbank_options` is given: `feature` (3D-Speaker)
    means a Povey window on float samples, anything else (WeSpeaker's `feats`) a Hamming window
    on 16-bit range samples.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        fbank_options: FbankOptions | None = None,
        window: float = 1.5,
        batch_size: int = 32,
        device: str = "cpu",
        cpu_threads: int = 0,
    ) -> None:
        self.path = Path(path)
        self.name = self.path.stem
        self.window = window
        self.batch_size = batch_size
        self._session = open_model(path, device=device, cpu_threads=cpu_threads)
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 3:
            raise ModelFormatError(
                f"{path}: an embedding model needs one input [batch, frames, mel bins]; "
                f"found {[(i.name, i.shape) for i in inputs]}"
            )
        self._input = inputs[0].name
        self._output = outputs[0].name
        _, frames, bins = inputs[0].shape
        if not isinstance(bins, int) or bins < 2 or len(outputs[0].shape) != 2:
            raise ModelFormatError(
                f"{path}: an embedding model maps [batch, frames, mel bins] (bins fixed) to "
                f"[batch, dim]; found {inputs[0].shape} -> {outputs[0].shape}"
            )
        self._static_frames = frames if isinstance(frames, int) else None
        if fbank_options is None:
            fbank_options = (
                FbankOptions(window_type="povey", scale=1.0)
                if self._input == "feature"
                else FbankOptions()
            )
        fbank_options = replace(fbank_options, num_mel_bins=bins)
        self.fbank_options = fbank_options
        dim = outputs[0].shape[-1]
        self.dim = dim if isinstance(dim, int) else self._run(self._probe()).shape[-1]

    def _probe(self) -> np.ndarray:
        frames = self._static_frames or 150
        return np.zeros((1, frames, self.fbank_options.num_mel_bins), dtype=np.float32)

    def _run(self, feats: np.ndarray) -> np.ndarray:
        out = self._session.run([self._output], {self._input: feats})[0]
        return np.asarray(out, dtype=np.float32).reshape(len(feats), -1)

    def _embed_features(self, feats: np.ndarray) -> np.ndarray:
        # Mean normalisation per window (CMN without variance), as WeSpeaker and 3D-Speaker do.
        feats = feats - feats.mean(axis=1, keepdims=True)
        out = [
            self._run(np.ascontiguousarray(feats[i : i + self.batch_size], dtype=np.float32))
            for i in range(0, len(feats), self.batch_size)
        ]
        return l2_normalise(np.concatenate(out))

    def embed_windows(self, audio: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
        starts = np.asarray(starts, dtype=np.int64)
        if len(starts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        options = self.fbank_options
        frames = self._static_frames or max(1, num_frames(length, options))
        end = int(starts.max()) + length
        padded = np.asarray(audio, dtype=np.float32)
        if end > len(padded):
            padded = np.pad(padded, (0, end - len(padded)))
        features = fbank(padded, options)
        first = starts // options.frame_shift
        need = int(first.max()) + frames
        if need > len(features):
            features = np.pad(features, ((0, need - len(features)), (0, 0)), mode="edge")
        index = first[:, None] + np.arange(frames)[None, :]
        return self._embed_features(features[index])

    def embed_clip(self, clip: np.ndarray) -> np.ndarray:
        if self._static_frames is not None:
            return super().embed_clip(clip)
        options = self.fbank_options
        # Whole-utterance embedding in one pass: these models pool over any number of frames.
        min_samples = options.frame_length + options.frame_shift * 20
        clip = np.asarray(clip, dtype=np.float32)
        if len(clip) < min_samples:
            clip = np.pad(clip, (0, min_samples - len(clip)))
        return self._embed_features(fbank(clip, options)[None])[0]
