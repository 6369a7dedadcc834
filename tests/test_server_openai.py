"""The official `openai` client, pointed at a local `hark serve`, works unchanged."""

from __future__ import annotations

from pathlib import Path

import openai
import pysubs2
import pytest
import webvtt

from hark.server.languages import LANGUAGES
from support_server import FAST as ASR_FAST
from support_server import Server
from test_server_asr import main_server

# Extra TranscribeOptions fields ride along as form fields (the client's `extra_body`); the
# language and temperature are the SDK's own arguments.
FAST = {k: v for k, v in ASR_FAST.items() if k not in ("language", "temperature")}


@pytest.fixture(scope="module")
def server(test_models: Path) -> Server:
    return main_server(test_models)


@pytest.fixture(scope="module")
def client(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="not-needed", max_retries=0)


@pytest.fixture(scope="module")
def audio(shared_audio: Path) -> Path:
    return shared_audio / "librispeech" / "1089-134686-0001.flac"


def transcribe(client: openai.OpenAI, audio: Path, **kwargs: object) -> object:
    with audio.open("rb") as f:
        return client.audio.transcriptions.create(
            file=f, model="whisper-1", language="en", extra_body=FAST, **kwargs
        )


def test_json(client: openai.OpenAI, audio: Path) -> None:
    result = transcribe(client, audio)
    assert isinstance(result, openai.types.audio.Transcription)
    assert result.text.strip()


def test_text_srt_vtt(client: openai.OpenAI, audio: Path) -> None:
    text = transcribe(client, audio, response_format="text")
    srt = transcribe(client, audio, response_format="srt", temperature=0.2)
    vtt = transcribe(client, audio, response_format="vtt", prompt="Names: Hark.")
    assert isinstance(text, str) and text.strip()
    assert len(pysubs2.SSAFile.from_string(srt, format_="srt")) >= 1
    assert len(webvtt.from_string(vtt).captions) >= 1


def test_verbose_json_with_words(client: openai.OpenAI, audio: Path) -> None:
    result = transcribe(
        client, audio, response_format="verbose_json", timestamp_granularities=["word", "segment"]
    )
    assert isinstance(result, openai.types.audio.TranscriptionVerbose)
    assert result.language == "english" and result.duration == pytest.approx(3.275, abs=0.01)
    assert result.words and result.segments
    for word in result.words:
        assert 0 <= word.start <= word.end <= result.duration + 0.01
    segment = result.segments[0]
    assert segment.id == 0 and segment.text.strip() and segment.end > segment.start
    assert {"avg_logprob", "compression_ratio", "no_speech_prob", "temperature", "seek"} <= set(
        segment.model_dump()
    )


def test_verbose_json_words_only(client: openai.OpenAI, audio: Path) -> None:
    result = transcribe(
        client, audio, response_format="verbose_json", timestamp_granularities=["word"]
    )
    assert result.words and not result.segments


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the client flags translations
def test_translation(client: openai.OpenAI, shared_audio: Path) -> None:
    with (shared_audio / "jfk.flac").open("rb") as f:
        result = client.audio.translations.create(
            file=f, model="whisper-1", response_format="verbose_json", extra_body=FAST
        )
    assert result.task == "translate" and result.text.strip()
    assert result.language in LANGUAGES.values()


def test_models(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == ["whisper-tiny", "whisper-1"]
    assert client.models.retrieve("whisper-1").id == "whisper-1"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-9")


def test_errors_reach_the_client(client: openai.OpenAI, audio: Path) -> None:
    with audio.open("rb") as f, pytest.raises(openai.NotFoundError) as unknown:
        client.audio.transcriptions.create(file=f, model="no-such-model")
    assert "whisper-tiny" in unknown.value.message
    with audio.open("rb") as f, pytest.raises(openai.UnprocessableEntityError) as bad:
        client.audio.transcriptions.create(file=f, model="whisper-1", temperature=3)
    assert "temperature" in bad.value.message
    with pytest.raises(openai.APIStatusError) as not_audio:
        client.audio.transcriptions.create(file=("a.txt", b"hello" * 100), model="whisper-1")
    assert not_audio.value.status_code == 415


def test_unknown_fields_are_refused_but_openai_fields_kept(
    client: openai.OpenAI, audio: Path
) -> None:
    """A misspelt extra field is a 422 with a suggestion, as on /asr and /run; Hark's names for
    what OpenAI's own fields say point to those; OpenAI's fields Hark ignores still pass."""
    with audio.open("rb") as f, pytest.raises(openai.UnprocessableEntityError) as typo:
        client.audio.transcriptions.create(
            file=f, model="whisper-1", extra_body={**FAST, "beamsize": 2}
        )
    assert "unknown parameter 'beamsize' (did you mean 'beam_size'?)" in typo.value.message
    with audio.open("rb") as f, pytest.raises(openai.UnprocessableEntityError) as own:
        client.audio.transcriptions.create(
            file=f, model="whisper-1", extra_body={"initial_prompt": "Hi."}
        )
    assert "unknown parameter 'initial_prompt' (use prompt)" in own.value.message
    result = transcribe(client, audio, include=["logprobs"], chunking_strategy="auto")
    assert isinstance(result, openai.types.audio.Transcription) and result.text.strip()
