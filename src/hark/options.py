"""Per-request transcription options: one validated model shared by every surface.

The Python API, the CLI flags, the HTTP form fields and the RunPod input schema are all built
from `TranscribeOptions`, so a new option is added once, here, with its help text and its
group (`json_schema_extra={"group": ...}` is used for the CLI help panels).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hark.asr import DecodeOptions
from hark.vad import VadOptions, check_pad_fits

AUTO_PER_CHUNK = "auto-per-chunk"
# Whisper's end-of-text token: 50257 in multilingual vocabularies, 50256 in English-only
# ones. Ids above it are the special tokens (start, language, task, timestamps), which the
# decoder needs and which make no sense to suppress.
END_OF_TEXT_IDS = (50256, 50257)
MAX_TOKEN_ID = max(END_OF_TEXT_IDS)
# Suppressing end-of-text takes away the model's way to stop: every chunk then runs to the
# token cap, for each beam and each fallback temperature. It is allowed (tests and benchmarks
# use it to make random-weight models talk) only with an explicit, small `max_new_tokens`.
MAX_TOKENS_WITHOUT_EOT = 224


def _group(name: str) -> dict[str, Any]:
    return {"group": name}


def _split_list(value: Any) -> Any:
    """Accept "0,0.2,0.4" (CLI, form fields) as well as real lists and single numbers."""
    if isinstance(value, str):
        parts = [p for p in value.replace(" ", ",").split(",") if p]
        return parts
    if isinstance(value, int | float):
        return [value]
    return value


class TranscribeOptions(BaseModel):
    """Everything that can change from one transcription to the next."""

    # allow_inf_nan=False: one rule for every float field (and list item): inf and nan are
    # refused, never passed on to the decoder, the VAD or the subtitle timings.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # -- language and task
    language: str | None = Field(
        None,
        description="Language code (en, fr, ...). Detected when not given; "
        f"'{AUTO_PER_CHUNK}' decodes each chunk in its own detected language.",
        json_schema_extra=_group("Language"),
    )
    task: Literal["transcribe", "translate"] = Field(
        "transcribe",
        description="transcribe, or translate into English.",
        json_schema_extra=_group("Language"),
    )
    language_detection_chunks: int = Field(
        5,
        ge=1,
        le=50,
        description="Speech chunks (spread over the file) used to detect the language.",
        json_schema_extra=_group("Language"),
    )

    # -- batching
    batch_size: int | None = Field(
        None,
        ge=1,
        le=256,
        description="Chunks decoded together (default 8 on CPU, 16 on CUDA).",
        json_schema_extra=_group("Performance"),
    )

    # -- VAD
    vad_onset: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Speech starts at this VAD probability.",
        json_schema_extra=_group("VAD"),
    )
    vad_offset: float = Field(
        0.363,
        gt=0,
        le=1,
        description="Speech ends below this VAD probability.",
        json_schema_extra=_group("VAD"),
    )
    min_speech_ms: int = Field(
        250,
        ge=0,
        le=60_000,
        description="Drop speech regions shorter than this.",
        json_schema_extra=_group("VAD"),
    )
    min_silence_ms: int = Field(
        160,
        ge=0,
        le=60_000,
        description="Silences shorter than this do not split speech.",
        json_schema_extra=_group("VAD"),
    )
    speech_pad_ms: int = Field(
        200,
        ge=0,
        le=10_000,
        description="Padding added around each speech region (chunk_size - 2 * speech_pad_ms "
        "must leave at least 0.25 s).",
        json_schema_extra=_group("VAD"),
    )
    chunk_size: float = Field(
        30.0,
        ge=1,
        le=30,
        description="Longest chunk sent to Whisper, in seconds.",
        json_schema_extra=_group("VAD"),
    )

    # -- decoding
    beam_size: int = Field(
        5, ge=1, le=20, description="Beam width (1 = greedy).", json_schema_extra=_group("Decoding")
    )
    best_of: int = Field(
        5,
        ge=1,
        le=20,
        description="Sampled candidates at temperature > 0.",
        json_schema_extra=_group("Decoding"),
    )
    # Patience multiplies the candidates kept per beam step (beam_size * patience): capped so
    # one request cannot ask for thousands of hypotheses per token.
    patience: float = Field(
        1.0,
        gt=0,
        le=4,
        description="Beam search patience factor.",
        json_schema_extra=_group("Decoding"),
    )
    length_penalty: float = Field(
        1.0,
        ge=-10,
        le=10,
        description="Exponential length penalty.",
        json_schema_extra=_group("Decoding"),
    )
    repetition_penalty: float = Field(
        1.0,
        gt=0,
        le=10,
        description="> 1 penalises repeated tokens.",
        json_schema_extra=_group("Decoding"),
    )
    no_repeat_ngram_size: int = Field(
        0,
        ge=0,
        le=64,
        description="Forbid repeated n-grams of this size (0 = off).",
        json_schema_extra=_group("Decoding"),
    )
    # Each temperature is another full decode of a failing chunk: at most 10 of them.
    temperature: list[float] = Field(
        default_factory=lambda: [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
        max_length=10,
        description="Temperatures tried in order per chunk while a result fails the "
        "thresholds (comma-separated).",
        json_schema_extra=_group("Decoding"),
    )
    compression_ratio_threshold: float | None = Field(
        2.4,
        description="Retry a chunk whose text compresses better than this (repetition).",
        json_schema_extra=_group("Decoding"),
    )
    log_prob_threshold: float | None = Field(
        -1.0,
        description="Retry a chunk whose average log-probability is below this.",
        json_schema_extra=_group("Decoding"),
    )
    no_speech_threshold: float | None = Field(
        0.6,
        ge=0,
        le=1,
        description="Drop a failed chunk as silence when its no-speech probability is above this.",
        json_schema_extra=_group("Decoding"),
    )
    initial_prompt: str | None = Field(
        None,
        max_length=2000,
        description="Context for the decoder: names, spelling, style.",
        json_schema_extra=_group("Decoding"),
    )
    hotwords: str | None = Field(
        None,
        max_length=1000,
        description="Words to bias towards.",
        json_schema_extra=_group("Decoding"),
    )
    suppress_tokens: list[int] = Field(
        default_factory=lambda: [-1],
        max_length=2000,
        description="Token ids never generated (-1: Whisper's default symbols; comma-separated). "
        f"Ids above {MAX_TOKEN_ID} are refused; end-of-text ({MAX_TOKEN_ID}) only with "
        f"max_new_tokens <= {MAX_TOKENS_WITHOUT_EOT}.",
        json_schema_extra=_group("Decoding"),
    )
    suppress_blank: bool = Field(
        True, description="Never start a chunk with a blank.", json_schema_extra=_group("Decoding")
    )
    suppress_numerals: bool = Field(
        False,
        description="Spell numbers out instead of digits and symbols.",
        json_schema_extra=_group("Decoding"),
    )
    max_new_tokens: int | None = Field(
        None,
        ge=1,
        le=440,
        description="Cap on generated tokens per chunk.",
        json_schema_extra=_group("Decoding"),
    )

    # -- word times
    word_timestamps: bool = Field(
        True, description="Give every word a start and an end.", json_schema_extra=_group("Words")
    )
    align: bool = Field(
        True,
        description="Refine word times with a CTC aligner (wav2vec2); falls back to Whisper's "
        "times when the language has none.",
        json_schema_extra=_group("Words"),
    )
    align_model: str | None = Field(
        None,
        description="Aligner: local directory or Hugging Face id (default: per language).",
        json_schema_extra=_group("Words"),
    )
    interpolate_method: Literal["nearest", "linear", "ignore"] = Field(
        "nearest",
        description="Times for words the aligner could not place.",
        json_schema_extra=_group("Words"),
    )
    return_char_alignments: bool = Field(
        False, description="Also return per-character times.", json_schema_extra=_group("Words")
    )

    # -- speakers
    diarize: bool = Field(
        False, description="Label speakers (who spoke when).", json_schema_extra=_group("Speakers")
    )
    num_speakers: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Exact number of speakers, if known.",
        json_schema_extra=_group("Speakers"),
    )
    min_speakers: int | None = Field(
        None,
        ge=1,
        le=64,
        description="At least this many speakers.",
        json_schema_extra=_group("Speakers"),
    )
    max_speakers: int | None = Field(
        None,
        ge=1,
        le=64,
        description="At most this many speakers.",
        json_schema_extra=_group("Speakers"),
    )
    diarize_model: str | None = Field(
        None,
        description="Optional segmentation model (pyannote segmentation-3.0 ONNX): path or HF id.",
        json_schema_extra=_group("Speakers"),
    )
    embedding_model: str | None = Field(
        None,
        description="Speaker embedding model (ONNX, WeSpeaker/CAM++ interface): path or HF id "
        "(default: the embedded GE2E encoder).",
        json_schema_extra=_group("Speakers"),
    )
    fill_nearest: bool = Field(
        True,
        description="Words outside every speaker turn take the nearest turn's speaker.",
        json_schema_extra=_group("Speakers"),
    )
    return_speaker_embeddings: bool = Field(
        False,
        description="Include one embedding per speaker.",
        json_schema_extra=_group("Speakers"),
    )
    channels: Literal["mix", "separate"] = Field(
        "mix",
        description="'separate': transcribe each channel on its own, one speaker per channel "
        "(call recordings).",
        json_schema_extra=_group("Speakers"),
    )

    # -- limits
    max_duration: float | None = Field(
        None,
        gt=0,
        description="Refuse audio longer than this many seconds.",
        json_schema_extra=_group("Limits"),
    )

    @field_validator("temperature", "suppress_tokens", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("temperature")
    @classmethod
    def _temperatures(cls, value: list[float]) -> list[float]:
        if not value or any(t < 0 or t > 2 for t in value):
            raise ValueError("temperatures must be one or more values between 0 and 2")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in ("", "auto", "none"):
            return None
        value = value.strip().lower()
        if value == AUTO_PER_CHUNK:
            return value
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        if value not in _LANGUAGE_CODES:
            raise ValueError(
                f"unknown language {value!r}; use a Whisper language code such "
                f"as en, fr, de, or '{AUTO_PER_CHUNK}'"
            )
        return value

    @model_validator(mode="after")
    def _speaker_counts(self) -> TranscribeOptions:
        low, high = self.min_speakers, self.max_speakers
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_speakers ({low}) must not exceed max_speakers ({high})")
        n = self.num_speakers
        if n is not None and ((low is not None and n < low) or (high is not None and n > high)):
            raise ValueError(f"num_speakers ({n}) is outside min_speakers..max_speakers")
        return self

    @field_validator("suppress_tokens")
    @classmethod
    def _token_ids(cls, value: list[int]) -> list[int]:
        bad = [t for t in value if t < -1 or t > MAX_TOKEN_ID]
        if bad:
            raise ValueError(
                f"token ids must be -1 or between 0 and {MAX_TOKEN_ID} (the special tokens above "
                f"end-of-text cannot be suppressed), not {bad[0]}"
            )
        return value

    @model_validator(mode="after")
    def _model_can_stop(self) -> TranscribeOptions:
        if any(t in END_OF_TEXT_IDS for t in self.suppress_tokens):
            cap = self.max_new_tokens
            if cap is None or cap > MAX_TOKENS_WITHOUT_EOT:
                raise ValueError(
                    "suppress_tokens includes end-of-text, which leaves the model no way to stop: "
                    f"also set max_new_tokens (at most {MAX_TOKENS_WITHOUT_EOT})"
                )
        return self

    @model_validator(mode="after")
    def _pad_fits_chunk(self) -> TranscribeOptions:
        check_pad_fits(self.speech_pad_ms, self.chunk_size)
        return self

    @model_validator(mode="after")
    def _vad_hysteresis(self) -> TranscribeOptions:
        if self.vad_offset > self.vad_onset:
            raise ValueError(
                f"vad_offset ({self.vad_offset}) must not exceed vad_onset ({self.vad_onset})"
            )
        return self

    def vad(self) -> VadOptions:
        return VadOptions(
            onset=self.vad_onset,
            offset=self.vad_offset,
            min_speech_ms=self.min_speech_ms,
            min_silence_ms=self.min_silence_ms,
            speech_pad_ms=self.speech_pad_ms,
            chunk_size=self.chunk_size,
        )

    def decode(self) -> DecodeOptions:
        return DecodeOptions(
            task=self.task,
            beam_size=self.beam_size,
            best_of=self.best_of,
            patience=self.patience,
            length_penalty=self.length_penalty,
            repetition_penalty=self.repetition_penalty,
            no_repeat_ngram_size=self.no_repeat_ngram_size,
            temperatures=tuple(self.temperature),
            compression_ratio_threshold=self.compression_ratio_threshold,
            log_prob_threshold=self.log_prob_threshold,
            no_speech_threshold=self.no_speech_threshold,
            initial_prompt=self.initial_prompt,
            hotwords=self.hotwords,
            suppress_tokens=tuple(self.suppress_tokens),
            suppress_blank=self.suppress_blank,
            suppress_numerals=self.suppress_numerals,
            max_new_tokens=self.max_new_tokens,
            word_timestamps=self.word_timestamps,
        )
