"""`hark stream FILE|-`: live captions from a running Hark server (`GET /v1/listen`).

A file is decoded here and played to the server at real-time pace (`--speed` to go faster);
`-` reads raw PCM16 mono from stdin as it comes (e.g. `arecord -f S16_LE -r 16000 -c 1 |
hark stream -`). Captions print as they arrive: on a terminal the partial line is rewritten in
place and each final becomes a line; otherwise (a pipe, a file) only finals are written, one
per line. Ctrl-C ends the stream cleanly: the server finalizes what it heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, TextIO

import numpy as np
import typer
from rich.console import Console

from hark.cli_options import parse_formats
from hark.client_live import AsyncLiveClient, Done, ErrorEvent, Final, LiveError, Partial

err = Console(stderr=True)
STREAM_FORMATS = ("srt", "vtt", "json", "txt")
CHUNK_SECONDS = 0.1  # audio per message: what a microphone client sends too
SAMPLE_RATE = 16_000


def stream(
    source: Annotated[
        str,
        typer.Argument(
            help="Audio or video file, or - for raw PCM16 mono on stdin.", metavar="FILE|-"
        ),
    ],
    url: Annotated[
        str, typer.Option(help="Server URL (http://host:9080).", envvar="HARK_URL")
    ] = "http://127.0.0.1:9080",
    api_key: Annotated[
        str | None, typer.Option(help="Bearer key.", envvar="HARK_API_KEY", show_default=False)
    ] = None,
    language: Annotated[
        str | None,
        typer.Option(help="Language code (default: detected once).", show_default=False),
    ] = None,
    task: Annotated[str | None, typer.Option(help="transcribe or translate.")] = None,
    diarize: Annotated[bool, typer.Option(help="Speaker labels on the finals.")] = False,
    speed: Annotated[
        float, typer.Option(help="Play a file this many times faster than real time.", min=0.01)
    ] = 1.0,
    sample_rate: Annotated[
        int, typer.Option(help="Sample rate of PCM on stdin.", min=8000, max=192000)
    ] = SAMPLE_RATE,
    overload: Annotated[
        str | None,
        typer.Option(
            help="When the server falls behind: drop the oldest audio (real time) or wait "
            "(lossless). Default: drop for a file at --speed 1, wait for faster playback and "
            "stdin (whose pace is unknown: a pipe may be a file).",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        list[str] | None,
        typer.Option(
            "-f",
            "--output-format",
            metavar="FORMATS",
            help=f"Write the session at the end as {', '.join(STREAM_FORMATS)} or all; repeat "
            "or separate with commas.",
            show_default=False,
        ),
    ] = None,
    output_dir: Annotated[
        Path, typer.Option("-o", "--output-dir", help="Where --output-format files go.")
    ] = Path("."),
    option: Annotated[
        list[str] | None,
        typer.Option(
            "-O",
            "--option",
            metavar="NAME=VALUE",
            help="A decoding option the live route accepts (beam_size, temperature, "
            "max_new_tokens, initial_prompt, hotwords, ...); repeatable.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Live captions of a file or of stdin, from a running Hark server."""
    try:
        formats = parse_formats(output_format or [], STREAM_FORMATS) if output_format else []
        formats = list(STREAM_FORMATS) if "all" in formats else formats
        options = _options(option or [])
        overload = overload or ("drop" if source != "-" and speed <= 1.0 else "wait")
        if overload not in ("drop", "wait"):
            raise ValueError(f"--overload must be drop or wait, not {overload!r}")
        client = AsyncLiveClient(url, api_key)
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if source != "-" and not Path(source).is_file():
        err.print(f"[red]error:[/] no such file: {source}")
        raise typer.Exit(2)
    printer = CaptionPrinter(sys.stdout, tty=sys.stdout.isatty(), speakers=diarize)
    stem = "stdin" if source == "-" else Path(source).stem
    try:
        if source == "-":
            audio = stdin_chunks(sample_rate)
            rate = sample_rate
        else:
            audio = file_chunks(Path(source), speed)
            rate = SAMPLE_RATE
        session_id = asyncio.run(
            run_stream(
                client,
                audio,
                printer,
                language=language,
                task=task,
                diarize=diarize,
                sample_rate=rate,
                overload=overload,
                options=options,
            )
        )
        if formats:
            asyncio.run(write_outputs(client, session_id, formats, output_dir, stem))
    except asyncio.CancelledError:
        printer.clear()
        err.print("interrupted")
        raise typer.Exit(130) from None
    except LiveError as exc:
        printer.clear()
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    except (OSError, ValueError) as exc:  # an undecodable file, an unreadable stdin
        printer.clear()
        err.print(f"[red]error:[/] {source}: {exc}")
        raise typer.Exit(1) from None


class CaptionPrinter:
    """Writes events as captions: finals as lines, the partial rewritten in place on a TTY."""

    def __init__(self, out: TextIO, *, tty: bool, speakers: bool = False, width: int = 0) -> None:
        self.out = out
        self.tty = tty
        self.speakers = speakers
        self.width = width
        self._partial = False

    def partial(self, text: str) -> None:
        if not self.tty:
            return
        width = self.width or _terminal_width()
        # One screen line at most: a wrapped line cannot be rewritten with a carriage return.
        shown = text.strip()
        if len(shown) > width - 1:
            shown = "…" + shown[-(width - 2) :]
        self.out.write("\r\x1b[2K" + (f"\x1b[2m{shown}\x1b[0m" if shown else ""))
        self.out.flush()
        self._partial = bool(shown)

    def final(self, event: Final) -> None:
        text = event.text.strip()
        if not text:
            return
        if self.speakers and event.speaker:
            text = f"{event.speaker}: {text}"
        if self.tty:
            stamp = f"\x1b[2m[{_clock(event.start)}]\x1b[0m "
            self.out.write("\r\x1b[2K" + stamp + text + "\n")
            self._partial = False
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def clear(self) -> None:
        if self.tty and self._partial:
            self.out.write("\r\x1b[2K")
            self.out.flush()
            self._partial = False


async def run_stream(
    client: AsyncLiveClient,
    audio: AsyncIterator[bytes],
    printer: CaptionPrinter,
    *,
    language: str | None = None,
    task: str | None = None,
    diarize: bool = False,
    sample_rate: int = SAMPLE_RATE,
    overload: str | None = None,
    options: dict[str, str] | None = None,
) -> str:
    """Send `audio` while printing the events; `end` when it runs out (or on Ctrl-C); the
    session id once `done` arrived."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def interrupted() -> None:  # the first Ctrl-C ends the stream cleanly, a second one quits
        if stop.is_set() and main is not None:
            main.cancel()
        stop.set()

    with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
        loop.add_signal_handler(signal.SIGINT, interrupted)
    chosen: dict[str, Any] = {
        "language": language,
        "task": task,
        "diarize": diarize or None,
        "sample_rate": sample_rate if sample_rate != SAMPLE_RATE else None,
        "overload": overload,
    }
    session = client.listen(**{**chosen, **(options or {})})
    try:
        async with session:

            async def send() -> None:
                async for chunk in _until(audio, stop):
                    await session.send(chunk)
                await session.end()

            sender = asyncio.create_task(send())
            try:
                async for event in session:
                    if isinstance(event, Partial):
                        printer.partial(event.text)
                    elif isinstance(event, Final):
                        printer.final(event)
                    elif isinstance(event, ErrorEvent):
                        printer.clear()
                        err.print(f"[yellow]server:[/] {event.code}: {event.message}")
                    elif isinstance(event, Done):
                        break
            finally:
                if not sender.done():
                    sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, LiveError):
                    await sender
            printer.clear()
            if session.done is None:
                raise LiveError("the stream closed without a done event")
            if session.done.dropped_s > 0:
                err.print(
                    f"[yellow]warning:[/] the server fell behind and dropped "
                    f"{session.done.dropped_s:.1f} s of audio (untranscribed); "
                    "--overload wait holds the audio back instead"
                )
            return session.done.session_id or session.session_id or ""
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)


async def write_outputs(
    client: AsyncLiveClient, session_id: str, formats: list[str], output_dir: Path, stem: str
) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        text = await client.result(session_id, fmt)
        path = output_dir / f"{stem}.{fmt}"
        path.write_text(text, encoding="utf-8")
        err.print(f"wrote {path}")


async def file_chunks(path: Path, speed: float = 1.0) -> AsyncIterator[bytes]:
    """The file as PCM16 16 kHz mono, 100 ms per chunk, each sent when its audio would have
    been heard (divided by `speed`); a slow send does not make later chunks wait longer."""
    from hark.audio import load_audio

    samples = await asyncio.to_thread(load_audio, path)
    pcm = pcm16(samples)
    step = int(SAMPLE_RATE * CHUNK_SECONDS) * 2
    started = time.monotonic()
    for index, offset in enumerate(range(0, len(pcm), step)):
        due = started + index * CHUNK_SECONDS / speed
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        yield pcm[offset : offset + step]


async def stdin_chunks(sample_rate: int = SAMPLE_RATE) -> AsyncIterator[bytes]:
    """Raw PCM16 from stdin as it arrives, ~100 ms per chunk, whole samples only."""
    reader = sys.stdin.buffer
    size = int(sample_rate * CHUNK_SECONDS) * 2
    carry = b""
    while True:
        data = await asyncio.to_thread(_read_some, reader, size)
        if not data:
            break
        data = carry + data
        cut = len(data) - len(data) % 2
        carry = data[cut:]
        if cut:
            yield data[:cut]


def _read_some(reader: object, size: int) -> bytes:
    read1 = getattr(reader, "read1", None)
    data = read1(size) if read1 else reader.read(size)  # type: ignore[attr-defined]
    return bytes(data)


async def _until(chunks: AsyncIterator[bytes], stop: asyncio.Event) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        if stop.is_set():
            return
        yield chunk


def _options(values: list[str]) -> dict[str, str]:
    """`NAME=VALUE` pairs; the server checks names and values (and names the bad ones)."""
    options = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--option must look like NAME=VALUE, got {value!r}")
        options[name.strip()] = text.strip()
    return options


def pcm16(samples: np.ndarray) -> bytes:
    """float32 in [-1, 1] as signed 16-bit little-endian bytes."""
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def _clock(seconds: float) -> str:
    minutes, sec = divmod(max(0.0, seconds), 60)
    return f"{int(minutes):02d}:{sec:04.1f}"


def _terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size((80, 24)).columns
