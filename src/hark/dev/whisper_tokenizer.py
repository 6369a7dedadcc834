"""The real multilingual Whisper tokenizer, rebuilt from the `openai-whisper` sdist.

The byte-level BPE ranks come from `whisper/assets/multilingual.tiktoken`, read straight out of
the sdist tarball (fetched with pip into a cache when absent). The `tokenizers` BPE is derived
from the ranks the way tiktoken applies them, and the special tokens follow in Whisper's order,
so `<|en|>`, `<|transcribe|>` and timestamps have their real ids. No torch, no transformers.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from functools import cache
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

WHISPER_SDIST_VERSION = "20250625"
SDIST_NAME = f"openai_whisper-{WHISPER_SDIST_VERSION}.tar.gz"
TIKTOKEN_MEMBER = "whisper/assets/multilingual.tiktoken"
# Pinned so that a different asset can never silently change the generated models.
TIKTOKEN_SHA256 = "b34b360dbb493e781e479794586d661700670d65564001f23024971d1f2fa126"
SDIST_ENV = "HARK_WHISPER_SDIST"
CACHE_ENV = "HARK_CACHE_DIR"

# Whisper's language order defines the ids 50259.. of the language tokens.
LANGUAGES: tuple[str, ...] = (
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv",
    "it", "id", "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no",
    "th", "ur", "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr",
    "az", "sl", "kn", "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw",
    "gl", "mr", "pa", "si", "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu",
    "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl",
    "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su",
)  # fmt: skip
# large-v3 and later add Cantonese after the 99: every id from <|translate|> on moves up by one.
LANGUAGES_V3: tuple[str, ...] = (*LANGUAGES, "yue")

NUM_BPE_TOKENS = 50_257
EOT_ID = 50_257
SOT_ID = 50_258
FIRST_LANGUAGE_ID = 50_259
TRANSLATE_ID = 50_358
TRANSCRIBE_ID = 50_359
SOT_LM_ID = 50_360
SOT_PREV_ID = 50_361
NO_CAPTIONS_ID = 50_362
NO_TIMESTAMPS_ID = 50_363
TIMESTAMP_BEGIN_ID = 50_364
NUM_TIMESTAMPS = 1_501  # <|0.00|> .. <|30.00|> in 20 ms steps
VOCAB_SIZE = TIMESTAMP_BEGIN_ID + NUM_TIMESTAMPS  # 51,865 (tiny .. large-v2)
VOCAB_SIZE_V3 = VOCAB_SIZE + 1  # 51,866 (large-v3, large-v3-turbo, distil-large-v3)
# The six task tokens that follow the languages, in order.
TASK_TOKENS: tuple[str, ...] = (
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nocaptions|>",
    "<|notimestamps|>",
)


def special_tokens(languages: tuple[str, ...] = LANGUAGES) -> tuple[str, ...]:
    """Whisper's special tokens in id order, for a model with these languages."""
    return (
        "<|endoftext|>",
        "<|startoftranscript|>",
        *(f"<|{c}|>" for c in languages),
        *TASK_TOKENS,
    )


def vocab_size(languages: tuple[str, ...] = LANGUAGES) -> int:
    return NUM_BPE_TOKENS + len(special_tokens(languages)) + NUM_TIMESTAMPS


SPECIAL_TOKENS: tuple[str, ...] = special_tokens(LANGUAGES)
TIMESTAMP_TOKENS: tuple[str, ...] = tuple(f"<|{i * 0.02:.2f}|>" for i in range(NUM_TIMESTAMPS))

# GPT-2's split pattern; `pre_tokenizers.ByteLevel(use_regex=True)` applies exactly this one.
SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def cache_dir() -> Path:
    """Where downloaded assets live: `$HARK_CACHE_DIR/assets` or `~/.cache/hark/assets`."""
    root = os.environ.get(CACHE_ENV)
    base = Path(root) if root else Path.home() / ".cache" / "hark"
    return base / "assets"


def whisper_sdist_path(*, download: bool = True) -> Path:
    """Path of the `openai-whisper` sdist: `$HARK_WHISPER_SDIST`, the cache, or pip download."""
    explicit = os.environ.get(SDIST_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_dir():
            path = path / SDIST_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{SDIST_ENV}={explicit} does not name the sdist {SDIST_NAME}")
        return path
    cached = cache_dir() / SDIST_NAME
    if cached.is_file():
        return cached
    if not download:
        raise FileNotFoundError(f"{cached} is missing and downloading is off")
    return _pip_download(cached.parent)


def _pip_download(target_dir: Path) -> Path:
    """Fetches the sdist from PyPI with pip (the only network access of the test tooling)."""
    target_dir.mkdir(parents=True, exist_ok=True)
    # Download next to the cache, then rename, so a concurrent reader never sees half a file.
    with tempfile.TemporaryDirectory(dir=target_dir, prefix=".pip-") as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"openai-whisper=={WHISPER_SDIST_VERSION}",
            "-d",
            tmp,
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        downloaded = Path(tmp) / SDIST_NAME
        if result.returncode != 0 or not downloaded.is_file():
            raise RuntimeError(
                f"could not download {SDIST_NAME} with pip (set {SDIST_ENV} to a local copy):\n"
                f"{result.stderr.strip()}"
            )
        final = target_dir / SDIST_NAME
        os.replace(downloaded, final)
    return final


def read_tiktoken_bytes(sdist: Path | None = None) -> bytes:
    """The raw `multilingual.tiktoken` file, read out of the sdist and checked against its hash."""
    sdist = sdist or whisper_sdist_path()
    with tarfile.open(sdist, "r:gz") as tar:
        member = next((m for m in tar.getmembers() if m.name.endswith("/" + TIKTOKEN_MEMBER)), None)
        if member is None:
            raise FileNotFoundError(f"{TIKTOKEN_MEMBER} not found in {sdist}")
        extracted = tar.extractfile(member)
        assert extracted is not None
        data = extracted.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != TIKTOKEN_SHA256:
        raise ValueError(
            f"{TIKTOKEN_MEMBER} in {sdist} has sha256 {digest}, expected the pinned one"
        )
    return data


def parse_ranks(data: bytes) -> dict[bytes, int]:
    """`base64-token rank` lines -> {token bytes: rank}."""
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@cache
def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode character mapping."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {byte: chr(char) for byte, char in zip(printable, chars, strict=True)}


def _to_unicode(token: bytes) -> str:
    table = _byte_to_unicode()
    return "".join(table[b] for b in token)


def bpe_from_ranks(ranks: dict[bytes, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Vocabulary and merges equivalent to tiktoken's rank-ordered merging.

    tiktoken merges the adjacent pair whose concatenation has the lowest rank, so every split of
    a token into two tokens is a merge with that token's priority (as transformers' converter
    does it).
    """
    vocab = {_to_unicode(token): rank for token, rank in ranks.items()}
    merges: list[tuple[int, int, int, bytes, bytes]] = []
    for token, rank in ranks.items():
        for cut in range(1, len(token)):
            left, right = token[:cut], token[cut:]
            left_rank, right_rank = ranks.get(left), ranks.get(right)
            if left_rank is not None and right_rank is not None:
                merges.append((rank, left_rank, right_rank, left, right))
    merges.sort()
    return vocab, [(_to_unicode(left), _to_unicode(right)) for *_, left, right in merges]


def build_tokenizer(
    tiktoken_data: bytes | None = None, languages: tuple[str, ...] = LANGUAGES
) -> Tokenizer:
    """The multilingual Whisper tokenizer as a `tokenizers.Tokenizer`: 51,865 ids with the 99
    languages of tiny .. large-v2, 51,866 with `LANGUAGES_V3` (large-v3 and later)."""
    ranks = parse_ranks(tiktoken_data if tiktoken_data is not None else read_tiktoken_bytes())
    if sorted(ranks.values()) != list(range(NUM_BPE_TOKENS)):
        raise ValueError(f"expected ranks 0..{NUM_BPE_TOKENS - 1} in the tiktoken file")
    vocab, merges = bpe_from_ranks(ranks)
    # ignore_merges: like tiktoken, a pre-token that is itself in the vocabulary stays whole.
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=True))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in special_tokens(languages)]
    )
    # Timestamps are ordinary added tokens in the Hugging Face Whisper tokenizers too.
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in TIMESTAMP_TOKENS])
    _check_ids(tokenizer, languages)
    return tokenizer


def _check_ids(tokenizer: Tokenizer, languages: tuple[str, ...] = LANGUAGES) -> None:
    shift = len(languages) - len(LANGUAGES)  # large-v3: <|yue|> moves the task tokens up one
    expected = {
        "<|endoftext|>": EOT_ID,
        "<|startoftranscript|>": SOT_ID,
        "<|en|>": FIRST_LANGUAGE_ID,
        f"<|{languages[-1]}|>": FIRST_LANGUAGE_ID + len(languages) - 1,
        "<|translate|>": TRANSLATE_ID + shift,
        "<|transcribe|>": TRANSCRIBE_ID + shift,
        "<|startoflm|>": SOT_LM_ID + shift,
        "<|startofprev|>": SOT_PREV_ID + shift,
        "<|nocaptions|>": NO_CAPTIONS_ID + shift,
        "<|notimestamps|>": NO_TIMESTAMPS_ID + shift,
        TIMESTAMP_TOKENS[0]: TIMESTAMP_BEGIN_ID + shift,
        TIMESTAMP_TOKENS[-1]: vocab_size(languages) - 1,
    }
    actual = {token: tokenizer.token_to_id(token) for token in expected}
    if actual != expected or tokenizer.get_vocab_size() != vocab_size(languages):
        raise AssertionError(f"Whisper special token ids are off: {actual}")


def language_token_ids(languages: tuple[str, ...] = LANGUAGES) -> list[int]:
    return list(range(FIRST_LANGUAGE_ID, FIRST_LANGUAGE_ID + len(languages)))


def non_speech_token_ids(tokenizer: Tokenizer) -> list[int]:
    """Whisper's `non_speech_tokens`: symbols and speaker/music marks that are not speech.

    Same rule as openai-whisper and faster-whisper: single-token symbols with or without a
    leading space, the first token of the musical signs, and " -" / " '" at word starts.
    """

    def encode(text: str) -> list[int]:
        return tokenizer.encode(text, add_special_tokens=False).ids

    symbols = list('"#()*+/:;<=>@[\\]^_`{|}~「」『』')
    symbols += "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split()
    miscellaneous = set("♩♪♫♬♭♮♯")
    result = {encode(" -")[0], encode(" '")[0]}
    for symbol in symbols + sorted(miscellaneous):
        for tokens in (encode(symbol), encode(" " + symbol)):
            if len(tokens) == 1 or symbol in miscellaneous:
                result.add(tokens[0])
    return sorted(result)


def suppress_ids(tokenizer: Tokenizer) -> list[int]:
    """`suppress_ids` of the converted Whisper models: non-speech tokens plus task specials."""
    names = ("translate", "transcribe", "startoftranscript", "startofprev", "startoflm")
    specials = [tokenizer.token_to_id(f"<|{name}|>") for name in (*names, "nocaptions")]
    return sorted({*non_speech_token_ids(tokenizer), *specials})


def suppress_ids_begin(tokenizer: Tokenizer) -> list[int]:
    """Blank (" ") and end-of-text may not start a transcript."""
    return [*tokenizer.encode(" ", add_special_tokens=False).ids, EOT_ID]
