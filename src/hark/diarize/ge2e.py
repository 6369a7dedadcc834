"""The GE2E speaker encoder of the Resemblyzer wheel, run in numpy.

Resemblyzer (Apache-2.0) ships a 3-layer LSTM (40 -> 256) trained with the GE2E loss in
`resemblyzer/pretrained.pt`. Its front end is a *linear power* mel spectrogram as librosa computes
it (40 Slaney bands, 25 ms periodic Hann window, n_fft 400, hop 160, centred, zero padded), and
the network sees 1.6 s partials (160 frames). The weights are read by the torch-free checkpoint
reader. Hark's build copies `pretrained.pt` into the package (setup.py); an installed
Resemblyzer wheel is the fallback, located without importing it (its `__init__` imports torch).

The network runs as a generated ONNX graph (three ONNX `LSTM` nodes) on ONNX Runtime: its fused
LSTM kernel keeps its speed on a busy machine, where numpy's step-by-step matmuls slowed down
more than tenfold when the cores were shared. A plain numpy forward pass is kept as the
reference the graph is tested against.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

from hark.diarize.embedding import SpeakerEmbedding, l2_normalise
from hark.diarize.errors import ModelFormatError, ModelNotFoundError
from hark.diarize.onnx_writer import Node, model_bytes
from hark.diarize.runtime import create_session
from hark.diarize.weights import load_state_dict

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 40
PARTIAL_FRAMES = 160
HIDDEN = 256
LAYERS = 3
TARGET_DBFS = -30.0


# Written into the package by the build (setup.py), with Resemblyzer's licence beside it.
BUNDLED_WEIGHTS = Path(__file__).parent / "assets" / "ge2e_resemblyzer.pt"


def default_weights_path() -> Path:
    """The bundled `pretrained.pt`, else the one of an installed Resemblyzer wheel."""
    if BUNDLED_WEIGHTS.is_file():
        return BUNDLED_WEIGHTS
    spec = importlib.util.find_spec("resemblyzer")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "pretrained.pt"
        if path.is_file():
            return path
    raise ModelNotFoundError(
        "the embedded speaker encoder's weights are missing: Hark's build puts them in "
        f"{BUNDLED_WEIGHTS}; reinstall Hark (pip install --force-reinstall hark), or install "
        "the Resemblyzer wheel without its dependencies: pip install --no-deps resemblyzer==0.1.4"
    )


def _hz_to_mel(freq: np.ndarray) -> np.ndarray:
    # Slaney's scale (librosa's default): linear below 1 kHz, logarithmic above.
    mels = freq / (200.0 / 3)
    log = freq >= 1000.0
    mels[log] = 15.0 + np.log(freq[log] / 1000.0) / (np.log(6.4) / 27.0)
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    freq = mels * (200.0 / 3)
    log = mels >= 15.0
    freq[log] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mels[log] - 15.0))
    return freq


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """(40, 201) Slaney-normalised triangular filters, as `librosa.filters.mel` builds them."""
    fft_freqs = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    edges = _mel_to_hz(np.linspace(0.0, _hz_to_mel(np.array([SAMPLE_RATE / 2.0]))[0], N_MELS + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights


def mel_spectrogram(audio: np.ndarray) -> np.ndarray:
    """(1 + len // 160, 40) float32 linear-power mel frames, frame i centred on sample 160 i."""
    audio = np.asarray(audio, dtype=np.float32)
    padded = np.pad(audio, N_FFT // 2)
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(n_frames, N_FFT), strides=(HOP * padded.itemsize, padded.itemsize)
    )
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    spectrum = np.fft.rfft(frames * window, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    return power @ mel_filterbank().T.astype(np.float32)


def volume_gain(audio: np.ndarray) -> float:
    """Gain that raises the audio to -30 dBFS (never lowers it), as Resemblyzer does."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    if rms <= 0.0:
        return 1.0
    change_db = TARGET_DBFS - 20.0 * np.log10(rms)
    return float(10.0 ** (change_db / 20.0)) if change_db > 0 else 1.0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # tanh form: one vectorised transcendental, no overflow warnings for large |x|.
    return 0.5 * np.tanh(0.5 * x) + 0.5


def _gates(weight: np.ndarray, order: str) -> np.ndarray:
    """Reorder PyTorch's gate blocks (i, f, g, o) along the first axis into `order`."""
    blocks = dict(zip("ifgo", np.split(weight, 4, axis=0), strict=True))
    return np.concatenate([blocks[g] for g in order], axis=0).astype(np.float32)


def build_graph(weights: dict[str, np.ndarray]) -> bytes:
    """The encoder as a serialised ONNX model: mels [frames, batch, 40] -> embeddings [batch, 256].

    ONNX's LSTM orders the gates i, o, f, c and takes the two bias vectors concatenated.
    """
    nodes: list[Node] = []
    init: dict[str, np.ndarray] = {
        "axis0": np.array([0], np.int64),
        "axis1": np.array([1], np.int64),
    }
    source = "mels"
    for i in range(LAYERS):
        init[f"W{i}"] = _gates(weights[f"lstm.weight_ih_l{i}"], "iofg")[None]
        init[f"R{i}"] = _gates(weights[f"lstm.weight_hh_l{i}"], "iofg")[None]
        init[f"B{i}"] = np.concatenate(
            [
                _gates(weights[f"lstm.bias_ih_l{i}"], "iofg"),
                _gates(weights[f"lstm.bias_hh_l{i}"], "iofg"),
            ]
        )[None]
        # Output Y is [frames, directions, batch, hidden]; Y_h is [directions, batch, hidden].
        nodes.append(
            Node(
                "LSTM",
                [source, f"W{i}", f"R{i}", f"B{i}"],
                [f"Y{i}", f"H{i}"],
                {"hidden_size": HIDDEN},
            )
        )
        if i < LAYERS - 1:
            nodes.append(Node("Squeeze", [f"Y{i}", "axis1"], [f"X{i + 1}"]))
            source = f"X{i + 1}"
    init["linear_w"] = np.ascontiguousarray(weights["linear.weight"].T, dtype=np.float32)
    init["linear_b"] = weights["linear.bias"].astype(np.float32)
    nodes += [
        Node("Squeeze", [f"H{LAYERS - 1}", "axis0"], ["hidden"]),
        Node("MatMul", ["hidden", "linear_w"], ["projected"]),
        Node("Add", ["projected", "linear_b"], ["biased"]),
        Node("Relu", ["biased"], ["raw"]),
        Node("LpNormalization", ["raw"], ["embeddings"], {"axis": 1, "p": 2}),
    ]
    return model_bytes(
        nodes,
        init,
        {"mels": ["frames", "batch", N_MELS]},
        {"embeddings": ["batch", HIDDEN]},
        name="ge2e",
    )


class GE2EEncoder(SpeakerEmbedding):
    """GE2E encoder: mel partials of 1.6 s -> L2-normalised 256-d embeddings."""

    name = "resemblyzer-ge2e"
    dim = HIDDEN
    window = PARTIAL_FRAMES * HOP / SAMPLE_RATE
    # Cluster mean vs. enrolled sample on the shared clips: same speaker 0.90-0.98 (0.90 when
    # enrolled from another excerpt of the meeting), other speakers of the recording <= 0.86.
    match_threshold = 0.88

    def __init__(
        self,
        weights: dict[str, np.ndarray],
        *,
        backend: Literal["onnxruntime", "numpy"] = "onnxruntime",
        device: str = "cpu",
        cpu_threads: int = 0,
        batch_size: int = 64,
    ) -> None:
        try:
            # Numpy reference: gates reordered to i, f, o, g so that one sigmoid covers a block.
            self._layers = [
                (
                    np.ascontiguousarray(_gates(weights[f"lstm.weight_ih_l{i}"], "ifog").T),
                    np.ascontiguousarray(_gates(weights[f"lstm.weight_hh_l{i}"], "ifog").T),
                    _gates(weights[f"lstm.bias_ih_l{i}"] + weights[f"lstm.bias_hh_l{i}"], "ifog"),
                )
                for i in range(LAYERS)
            ]
            self._linear_w = np.ascontiguousarray(weights["linear.weight"].T, dtype=np.float32)
            self._linear_b = weights["linear.bias"].astype(np.float32)
        except KeyError as exc:
            raise ModelFormatError(f"GE2E weights lack {exc.args[0]}") from None
        if self._layers[0][0].shape != (N_MELS, 4 * HIDDEN):
            raise ModelFormatError("GE2E weights have unexpected shapes")
        self.backend = backend
        self.batch_size = batch_size
        self._session = (
            create_session(build_graph(weights), device=device, cpu_threads=cpu_threads)
            if backend == "onnxruntime"
            else None
        )

    @classmethod
    def load(
        cls, path: str | Path | None = None, *, device: str = "cpu", cpu_threads: int = 0
    ) -> GE2EEncoder:
        """Load Resemblyzer-format weights (default: the wheel's `pretrained.pt`)."""
        path = Path(path) if path is not None else default_weights_path()
        if not path.is_file():
            raise ModelNotFoundError(f"GE2E weights not found: {path}")
        weights = load_state_dict(path, "model_state")
        return cls(weights, device=device, cpu_threads=cpu_threads)

    def embed_mels(self, mels: np.ndarray) -> np.ndarray:
        """(batch, frames, 40) mel partials -> (batch, 256) embeddings."""
        out = np.empty((len(mels), HIDDEN), dtype=np.float32)
        for i in range(0, len(mels), self.batch_size):
            batch = np.asarray(mels[i : i + self.batch_size], dtype=np.float32)
            if self._session is not None:
                feed = {"mels": np.ascontiguousarray(batch.transpose(1, 0, 2))}
                # A window whose projection is all zero would normalise to NaN in ONNX.
                out[i : i + len(batch)] = np.nan_to_num(self._session.run(None, feed)[0])
            else:
                out[i : i + len(batch)] = self.forward_numpy(batch)
        return out

    def forward_numpy(self, mels: np.ndarray) -> np.ndarray:
        """The reference forward pass in numpy: (batch, frames, 40) -> (batch, 256)."""
        batch, steps, _ = mels.shape
        sequence = np.ascontiguousarray(mels, dtype=np.float32)
        h = np.zeros((batch, HIDDEN), dtype=np.float32)
        for w_ih, w_hh, bias in self._layers:
            # Input projections of all steps in one matmul; only the recurrence is sequential.
            pre = (sequence.reshape(batch * steps, -1) @ w_ih + bias).reshape(batch, steps, -1)
            h = np.zeros((batch, HIDDEN), dtype=np.float32)
            c = np.zeros((batch, HIDDEN), dtype=np.float32)
            outputs = np.empty((batch, steps, HIDDEN), dtype=np.float32)
            for t in range(steps):
                gates = pre[:, t] + h @ w_hh
                ifo = _sigmoid(gates[:, : 3 * HIDDEN])
                c = ifo[:, HIDDEN : 2 * HIDDEN] * c + ifo[:, :HIDDEN] * np.tanh(
                    gates[:, 3 * HIDDEN :]
                )
                h = ifo[:, 2 * HIDDEN :] * np.tanh(c)
                outputs[:, t] = h
            sequence = outputs
        return l2_normalise(np.maximum(h @ self._linear_w + self._linear_b, 0.0))

    def embed_windows(self, audio: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
        starts = np.asarray(starts, dtype=np.int64)
        if len(starts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        audio = np.asarray(audio, dtype=np.float32)
        mel = mel_spectrogram(audio * volume_gain(audio))
        n_frames = max(1, round(length / HOP))
        first = starts // HOP
        # Zero frames past the end, as Resemblyzer zero-pads its last partial.
        need = int(first.max()) + n_frames
        if need > len(mel):
            mel = np.concatenate([mel, np.zeros((need - len(mel), N_MELS), np.float32)])
        index = first[:, None] + np.arange(n_frames)[None, :]
        return self.embed_mels(mel[index])
