"""Which aligner serves a language, where its files are, and loading it onto ONNX Runtime.

An aligner is a directory with `model.onnx` (or `onnx/model.onnx`) and the Hugging Face
`vocab.json`, plus optionally `config.json`, `preprocessor_config.json` and
`tokenizer_config.json`, and an int8 copy of the network, `model.int8.onnx` (or
`onnx/model_int8.onnx`), which `hark models convert-aligner` writes beside the float one.
`compute_type="auto"` runs the int8 copy on the CPU when there is one (about 1.5x less time, the
same trade WhisperX makes running Whisper in int8 on CPU) and the float network on CUDA.

An aligner is found, in order: as a local directory; as a Hugging Face repo
that already holds an ONNX export, in the local HF cache; as a plain `Wav2Vec2ForCTC` repo
converted once by `hark models convert-aligner` into the Hark model cache; as a Hugging Face
repo with an ONNX export, downloaded (unless offline).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hark.align.errors import AlignError, AlignModelNotFound, AlignModelUnavailable
from hark.align.onnx_model import DEFAULT_CONV_KERNEL, DEFAULT_CONV_STRIDE, OnnxCTCNetwork
from hark.align.text import SPACELESS_LANGUAGES, Vocabulary
from hark.model_files import (
    ModelError,
    ModelNotCachedError,
    ModelNotFoundError,
    offline_mode,
    snapshot,
)
from hark.onnx_providers import runs_on_cuda

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000

DEFAULT_ALIGN_MODELS: dict[str, str] = {
    # torchaudio's pipelines in WhisperX, as their Hugging Face checkpoints.
    "en": "facebook/wav2vec2-base-960h",
    "fr": "facebook/wav2vec2-base-10k-voxpopuli-fr",
    "de": "facebook/wav2vec2-base-10k-voxpopuli-de",
    "es": "facebook/wav2vec2-base-10k-voxpopuli-es",
    "it": "facebook/wav2vec2-base-10k-voxpopuli-it",
    # WhisperX's DEFAULT_ALIGN_MODELS_HF.
    "ja": "jonatasgrosman/wav2vec2-large-xlsr-53-japanese",
    "zh": "jonatasgrosman/wav2vec2-large-xlsr-53-chinese-zh-cn",
    "nl": "jonatasgrosman/wav2vec2-large-xlsr-53-dutch",
    "uk": "Yehor/wav2vec2-xls-r-300m-uk-with-small-lm",
    "pt": "jonatasgrosman/wav2vec2-large-xlsr-53-portuguese",
    "ar": "jonatasgrosman/wav2vec2-large-xlsr-53-arabic",
    "cs": "comodoro/wav2vec2-xls-r-300m-cs-250",
    "ru": "jonatasgrosman/wav2vec2-large-xlsr-53-russian",
    "pl": "jonatasgrosman/wav2vec2-large-xlsr-53-polish",
    "hu": "jonatasgrosman/wav2vec2-large-xlsr-53-hungarian",
    "fi": "jonatasgrosman/wav2vec2-large-xlsr-53-finnish",
    "fa": "jonatasgrosman/wav2vec2-large-xlsr-53-persian",
    "el": "jonatasgrosman/wav2vec2-large-xlsr-53-greek",
    "tr": "mpoyraz/wav2vec2-xls-r-300m-cv7-turkish",
    "da": "saattrupdan/wav2vec2-xls-r-300m-ftspeech",
    "he": "imvladikon/wav2vec2-xls-r-300m-hebrew",
    "vi": "nguyenvulebinh/wav2vec2-base-vi-vlsp2020",
    "ko": "kresnik/wav2vec2-large-xlsr-korean",
    "ur": "kingabzpro/wav2vec2-large-xls-r-300m-Urdu",
    "te": "anuragshas/wav2vec2-large-xlsr-53-telugu",
    "hi": "theainerd/Wav2Vec2-large-xlsr-hindi",
    "ca": "softcatala/wav2vec2-large-xlsr-catala",
    "ml": "gvs/wav2vec2-large-xlsr-malayalam",
    "no": "NbAiLab/nb-wav2vec2-1b-bokmaal-v2",
    "nn": "NbAiLab/nb-wav2vec2-1b-nynorsk",
    "sk": "comodoro/wav2vec2-xls-r-300m-sk-cv8",
    "sl": "anton-l/wav2vec2-large-xlsr-53-slovenian",
    "hr": "classla/wav2vec2-xls-r-parlaspeech-hr",
    "ro": "gigant/romanian-wav2vec2",
    "eu": "stefan-it/wav2vec2-large-xlsr-53-basque",
    "gl": "ifrz/wav2vec2-large-xlsr-galician",
    "ka": "xsway/wav2vec2-large-xlsr-georgian",
    "lv": "jimregan/wav2vec2-large-xlsr-latvian-cv",
    "tl": "Khalsuu/filipino-wav2vec2-l-xls-r-300m-official",
    "sv": "KBLab/wav2vec2-large-voxrex-swedish",
    "id": "cahya/wav2vec2-large-xlsr-indonesian",
}
"""Default alignment model per language: the checkpoints WhisperX uses."""

CACHE_ENV = "HARK_CACHE_DIR"
ONNX_FILES = ("model.onnx", "onnx/model.onnx")
INT8_FILES = ("model.int8.onnx", "onnx/model_int8.onnx")
ALIGN_COMPUTE_TYPES = ("auto", "float32", "int8")
# What to fetch from a repo with an ONNX export: never the PyTorch/TF weights.
_SNAPSHOT_PATTERNS = [
    "*.json",
    "model.onnx",
    "model.onnx_data",
    "onnx/model.onnx",
    "onnx/model.onnx_data",
    *INT8_FILES,
]


@dataclass
class AlignModel:
    """A loaded aligner: the ONNX network and the vocabulary its output columns spell."""

    name: str
    path: Path
    language: str
    vocabulary: Vocabulary
    network: OnnxCTCNetwork = field(repr=False)
    spaces: bool = True
    """Whether the language separates words with spaces (else each character is a word)."""
    sample_rate: int = SAMPLE_RATE

    @property
    def device(self) -> str:
        return self.network.device

    @property
    def frame_seconds(self) -> float:
        return self.network.hop / self.sample_rate

    def log_probs(
        self, waveform: np.ndarray, *, window_seconds: float = 30.0, context_seconds: float = 1.0
    ) -> np.ndarray:
        """Frame log-probabilities [frames, vocab] of a 16 kHz mono waveform."""
        return self.network.log_probs(
            waveform,
            window_seconds=window_seconds,
            context_seconds=context_seconds,
            sample_rate=self.sample_rate,
        )


def default_cache_dir() -> Path:
    """The Hark model cache: `$HARK_CACHE_DIR` or `~/.cache/hark`."""
    root = os.environ.get(CACHE_ENV)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "hark"


def converted_dir(hf_id: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where `hark models convert-aligner HF_ID` puts its output."""
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    return root / "aligners" / hf_id.replace("/", "--")


def base_language(language: str) -> str:
    """ "en-US" / "pt_BR" -> "en" / "pt"."""
    return language.strip().lower().replace("_", "-").split("-")[0]


def default_align_model(language: str) -> str | None:
    """The default aligner of a language, or None when there is none."""
    return DEFAULT_ALIGN_MODELS.get(base_language(language))


def find_onnx(directory: Path, names: tuple[str, ...] = ONNX_FILES + INT8_FILES) -> Path | None:
    """The first of `names` (default: any aligner network) that is a file in `directory`."""
    return next((directory / f for f in names if (directory / f).is_file()), None)


def check_align_compute_type(value: str) -> str:
    """`value` if it is an aligner compute type; ValueError naming the choices otherwise."""
    if value not in ALIGN_COMPUTE_TYPES:
        raise ValueError(
            f"align_compute_type must be one of {', '.join(ALIGN_COMPUTE_TYPES)}, not {value!r}"
        )
    return value


def choose_network(directory: Path, compute_type: str = "auto", device: str = "cpu") -> Path:
    """The network file of an aligner directory to run for `compute_type` on `device`.

    "auto": the int8 copy on the CPU if there is one, the float network otherwise (and always
    on CUDA, where ONNX Runtime's dynamic int8 operators fall back to the CPU). "int8" or
    "float32" without such a file uses the other one, with a warning.
    """
    check_align_compute_type(compute_type)
    float_file, int8_file = find_onnx(directory, ONNX_FILES), find_onnx(directory, INT8_FILES)
    want_int8 = compute_type == "int8" or (compute_type == "auto" and device == "cpu")
    chosen = (int8_file or float_file) if want_int8 else (float_file or int8_file)
    if chosen is None:
        raise AlignModelNotFound(f"{directory} has no aligner network (model.onnx).")
    if compute_type != "auto" and (chosen == int8_file) != (compute_type == "int8"):
        logger.warning(
            "Aligner %s has no %s network; running %s. `hark models convert-aligner` writes both.",
            directory,
            compute_type,
            chosen.name,
        )
    return chosen


def resolve_align_model(
    language: str,
    model: str | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
) -> tuple[str, Path]:
    """(name, directory) of the aligner for `language`, or of `model` when given.

    Raises AlignModelUnavailable when the language has no default aligner, AlignModelNotFound
    when the model's files are not here and cannot (or may not) be downloaded.
    """
    if not model:
        model = default_align_model(language)
        if model is None:
            raise AlignModelUnavailable(
                f"No default alignment model for language {language!r}; word times come from "
                "Whisper. Pass --align-model with a wav2vec2 CTC model (local directory or "
                "Hugging Face id) to align this language."
            )
    path = Path(model).expanduser()
    if path.is_dir():
        if find_onnx(path) is None:
            raise AlignModelNotFound(
                f"{path} is not an ONNX aligner (no model.onnx). If it is a Transformers "
                f"Wav2Vec2ForCTC checkpoint, convert it with `hark models convert-aligner {path}`."
            )
        return str(path), path
    if model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise AlignModelNotFound(f"Alignment model directory {path} does not exist.")

    found = _hf_onnx_snapshot(model, cache_dir, local_files_only=True)
    if found is None:
        roots = [cache_dir] if cache_dir else []
        for root in [*roots, None]:
            converted = converted_dir(model, root)
            if find_onnx(converted) is not None:
                return model, converted
    if found is None and not (local_files_only or offline_mode()):
        found = _hf_onnx_snapshot(model, cache_dir, local_files_only=False)
        if found is None:
            raise AlignModelNotFound(
                f"Alignment model {model!r} has no ONNX export on the Hugging Face Hub. Convert "
                f"it once with `hark models convert-aligner {model}` (needs `pip install "
                "'hark[convert]'`); it is then found offline in the Hark model cache."
            )
    if found is None:
        places = " or ".join(str(converted_dir(model, r)) for r in dict.fromkeys([cache_dir, None]))
        raise AlignModelNotFound(
            f"Alignment model {model!r} is not available offline: no ONNX export in the "
            f"Hugging Face cache and no converted copy in {places}. "
            f"Where there is internet, run `hark models convert-aligner {model}` (needs `pip "
            "install 'hark[convert]'`) and copy that directory here, or pass a local aligner "
            "directory with --align-model."
        )
    return model, found


def _hf_onnx_snapshot(
    repo_id: str, cache_dir: str | os.PathLike[str] | None, *, local_files_only: bool
) -> Path | None:
    """The snapshot directory of a HF repo if it holds an ONNX export, else None."""
    hint = f"hark models convert-aligner {repo_id}"
    # Aligners keep their own error type and messages, chained from huggingface_hub's error.
    try:
        found = snapshot(
            repo_id,
            label=f"Alignment model {repo_id!r}",
            allow_patterns=_SNAPSHOT_PATTERNS,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            fetch_hint=hint,
        )
    except ModelNotCachedError:
        return None
    except ModelNotFoundError as exc:
        raise AlignModelNotFound(
            f"Alignment model {repo_id!r} was not found on the Hugging Face Hub (or is "
            "private: set HF_TOKEN)."
        ) from exc.__cause__
    except ModelError as exc:
        raise AlignModelNotFound(
            f"Alignment model {repo_id!r} could not be downloaded ({exc.__cause__}). Convert it "
            f"where there is internet with `{hint}` and copy it here."
        ) from exc.__cause__
    return found if find_onnx(found) is not None else None


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AlignError(f"Unreadable aligner file {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def read_vocabulary(directory: Path) -> Vocabulary:
    """The model's vocabulary from `vocab.json` (+ blank and delimiter from the configs)."""
    tokens = _read_json(directory / "vocab.json")
    # Multilingual tokenizers nest the vocabulary by language: {"en": {...}}.
    if tokens and all(isinstance(v, dict) for v in tokens.values()):
        tokens = next(iter(tokens.values()))
    if not tokens:
        raise AlignError(f"Aligner {directory} has no vocab.json.")
    config = _read_json(directory / "config.json")
    tokenizer = _read_json(directory / "tokenizer_config.json")
    blank = config.get("pad_token_id")
    if not isinstance(blank, int):
        blank = tokenizer.get("pad_token") if isinstance(tokenizer.get("pad_token"), str) else None
    delimiter = tokenizer.get("word_delimiter_token") or "|"
    return Vocabulary.from_tokens(
        {str(k): int(v) for k, v in tokens.items()}, blank=blank, delimiter=delimiter
    )


def load_align_model(
    language: str,
    model: str | None = None,
    *,
    device: str = "cpu",
    device_index: int = 0,
    cache_dir: str | None = None,
    local_files_only: bool = False,
    cpu_threads: int = 0,
    compute_type: str = "auto",
) -> AlignModel:
    """Load the aligner for `language` (or `model`: local directory or Hugging Face id).

    `device` is "cpu", "cuda" or "auto"; `compute_type` is "auto", "float32" or "int8" (see
    `choose_network`). Raises AlignModelUnavailable (no default for the
    language), AlignModelNotFound (files not here), AlignError (files broken); all are
    AlignError, which the pipeline answers by keeping Whisper's word times.
    """
    name, directory = resolve_align_model(
        language, model, cache_dir=cache_dir, local_files_only=local_files_only
    )
    # The effective device: the RunPod image pairs CUDA Whisper with the CPU onnxruntime.
    onnx_path = choose_network(directory, compute_type, "cuda" if runs_on_cuda(device) else "cpu")
    config = _read_json(directory / "config.json")
    preprocessor = _read_json(directory / "preprocessor_config.json")
    sample_rate = int(preprocessor.get("sampling_rate", SAMPLE_RATE))
    if sample_rate != SAMPLE_RATE:
        raise AlignError(f"Aligner {name} expects {sample_rate} Hz audio; Hark decodes 16 kHz.")
    network = OnnxCTCNetwork(
        onnx_path,
        device=device,
        device_index=device_index,
        cpu_threads=cpu_threads,
        do_normalize=bool(preprocessor.get("do_normalize", True)),
        conv_kernel=tuple(config.get("conv_kernel", DEFAULT_CONV_KERNEL)),
        conv_stride=tuple(config.get("conv_stride", DEFAULT_CONV_STRIDE)),
    )
    lang = base_language(language)
    logger.info("Aligner %s (%s) on %s", name, onnx_path, network.device)
    return AlignModel(
        name=name,
        path=directory,
        language=lang,
        vocabulary=read_vocabulary(directory),
        network=network,
        spaces=lang not in SPACELESS_LANGUAGES,
    )
