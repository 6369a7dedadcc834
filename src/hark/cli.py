"""`hark`: the command line. Thin over `hark.pipeline`."""

from __future__ import annotations

import inspect
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from hark import __version__
from hark.cli_options import given, option_parameters
from hark.cli_remote import app as remote_app
from hark.cli_stream import stream
from hark.dev.cli import app as dev_app
from hark.formats import FORMATS
from hark.options import TranscribeOptions
from hark.settings import Settings

app = typer.Typer(
    name="hark",
    help="Hark: self-hostable speech-to-text (Whisper on CTranslate2, no PyTorch).",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
models_app = typer.Typer(help="List, fetch and convert models.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(dev_app, name="dev", help="Developer tools (test fixtures).")
app.add_typer(remote_app, name="remote")

err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hark {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "WARNING",
) -> None:
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")


def transcribe(
    files: Annotated[
        list[Path], typer.Argument(help="Audio or video files.", show_default=False, metavar="FILE")
    ],
    output_dir: Annotated[
        Path,
        typer.Option(
            "-o", "--output-dir", help="Where to write results.", rich_help_panel="Output"
        ),
    ] = Path("."),
    output_format: Annotated[
        list[str],
        typer.Option(
            "-f",
            "--output-format",
            metavar="FORMATS",
            help=f"{', '.join(FORMATS)} or all; repeat the flag or separate with commas. "
            "rttm needs --diarize.",
            rich_help_panel="Output",
        ),
    ] = ["all"],  # noqa: B006 - typer reads the default, nothing mutates it
    max_line_width: Annotated[
        int | None, typer.Option(help="Subtitle characters per line.", rich_help_panel="Output")
    ] = None,
    max_line_count: Annotated[
        int | None,
        typer.Option(
            help="Subtitle lines per cue (needs --max-line-width).", rich_help_panel="Output"
        ),
    ] = None,
    highlight_words: Annotated[
        bool,
        typer.Option(
            help="Underline each word as it is spoken (SRT/VTT).", rich_help_panel="Output"
        ),
    ] = False,
    max_cue_duration: Annotated[
        float | None, typer.Option(help="Longest subtitle cue, seconds.", rich_help_panel="Output")
    ] = None,
    min_cue_duration: Annotated[
        float | None, typer.Option(help="Shortest subtitle cue, seconds.", rich_help_panel="Output")
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "-m",
            "--model",
            help="Model name, HF repo id or local directory.",
            rich_help_panel="Model",
        ),
    ] = "small",
    device: Annotated[
        str, typer.Option(help="auto, cpu or cuda.", rich_help_panel="Model")
    ] = "auto",
    device_index: Annotated[int, typer.Option(help="GPU index.", rich_help_panel="Model")] = 0,
    compute_type: Annotated[
        str,
        typer.Option(
            help="default (int8 on CPU, float16 on CUDA), int8, int8_float16, float16, "
            "bfloat16, float32.",
            rich_help_panel="Model",
        ),
    ] = "default",
    cpu_threads: Annotated[
        int, typer.Option(help="CPU threads (0: all available).", rich_help_panel="Model")
    ] = 0,
    align_compute_type: Annotated[
        str,
        typer.Option(
            help="Aligner network: auto (int8 copy on CPU, float on GPU), float32 or int8.",
            rich_help_panel="Model",
        ),
    ] = "auto",
    download_root: Annotated[
        Path | None, typer.Option(help="Model cache directory.", rich_help_panel="Model")
    ] = None,
    local_files_only: Annotated[
        bool, typer.Option(help="Never download models (offline).", rich_help_panel="Model")
    ] = False,
    speaker: Annotated[
        list[str] | None,
        typer.Option(
            help="Known speaker as NAME=FILE (repeatable): matching voices get that name.",
            rich_help_panel="Speakers",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bars.")] = False,
    **option_values: Any,
) -> None:
    """Transcribe audio/video files; models load once for the whole batch."""
    from hark.cli_transcribe import run_batch

    try:
        options = TranscribeOptions(**given(option_values, TranscribeOptions))
        speakers = _known_speakers(speaker or [])
    except ValueError as exc:
        err.print(f"[red]error:[/] invalid options: {exc}")
        raise typer.Exit(2) from None
    if speakers and not options.diarize:
        options = options.model_copy(update={"diarize": True})
    # SubtitleOptions fields the user set; checked with the other output settings.
    subtitles = {
        k: v
        for k, v in dict(
            max_line_width=max_line_width,
            max_line_count=max_line_count,
            highlight_words=highlight_words,
            max_cue_duration=max_cue_duration,
            min_cue_duration=min_cue_duration,
        ).items()
        if v is not None
    }
    failures = run_batch(
        files,
        options=options,
        output_dir=output_dir,
        output_format=output_format,
        subtitles=subtitles,
        speakers=speakers,
        quiet=quiet,
        load=dict(
            model=model,
            device=device,
            device_index=device_index,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            align_compute_type=align_compute_type,
            download_root=download_root,
            local_files_only=local_files_only,
        ),
    )
    raise typer.Exit(1 if failures else 0)


# Every TranscribeOptions field becomes a flag of `hark transcribe` (declared once, in options).
_signature = inspect.signature(transcribe, eval_str=True)
transcribe.__signature__ = _signature.replace(
    parameters=[  # type: ignore[attr-defined]
        p for p in _signature.parameters.values() if p.kind is not p.VAR_KEYWORD
    ]
    + option_parameters(TranscribeOptions)
)
app.command(no_args_is_help=True)(transcribe)


def serve(**setting_values: Any) -> None:
    """Run the HTTP API (uvicorn). Every option is also a HARK_* environment variable."""
    import uvicorn

    from hark.server import create_app
    from hark.server.websocket import KeepaliveProtocol

    try:
        settings = Settings(**given(setting_values, Settings))
    except ValueError as exc:
        err.print(f"[red]error:[/] invalid settings: {exc}")
        raise typer.Exit(2) from None
    logging.getLogger("hark").setLevel(settings.log_level.upper())
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # Live messages up to the limit get a clear error event (1009); past twice the limit
        # uvicorn closes (1009) before reading them into memory.
        ws_max_size=2 * settings.live_max_frame_bytes,
        # Keepalive pings that a live stream held back by overload=wait survives
        # (hark.server.websocket).
        ws=KeepaliveProtocol,
        ws_ping_interval=settings.live_ping_interval_s,
        ws_ping_timeout=settings.live_ping_timeout_s,
        # uvicorn's HTTP drain shares the one grace period with the job drain.
        timeout_graceful_shutdown=max(1, int(settings.shutdown_grace_s)),
    )


# Every Settings field becomes a flag of `hark serve`, overriding its HARK_* variable.
serve.__signature__ = inspect.Signature(option_parameters(Settings))  # type: ignore[attr-defined]
app.command()(serve)


app.command(no_args_is_help=True)(stream)


def _known_speakers(values: list[str]) -> dict[str, Path]:
    speakers = {}
    for value in values:
        name, sep, file = value.partition("=")
        if not sep or not name.strip() or not file.strip():
            raise ValueError(f"--speaker must look like NAME=FILE, got {value!r}")
        path = Path(file.strip()).expanduser()
        if not path.is_file():
            raise ValueError(f"--speaker {name.strip()}: no such file {path}")
        speakers[name.strip()] = path
    return speakers


@models_app.command("list")
def models_list() -> None:
    """Whisper models and the default word aligner of each language."""
    from rich.table import Table

    from hark.align import DEFAULT_ALIGN_MODELS
    from hark.model_files import WHISPER_MODELS

    table = Table("name", "repository", title="Whisper models (CTranslate2)")
    for name, repo in WHISPER_MODELS.items():
        table.add_row(name, repo)
    Console().print(table)
    aligners = Table("language", "aligner (wav2vec2 CTC)", title="Default word aligners")
    for language, repo in sorted(DEFAULT_ALIGN_MODELS.items()):
        aligners.add_row(language, repo)
    Console().print(aligners)


@models_app.command("convert-aligner")
def models_convert_aligner(
    hf_id: Annotated[str, typer.Argument(help="Hugging Face Wav2Vec2ForCTC repo id or dir.")],
    quantize: Annotated[
        str,
        typer.Option(
            help="int8 copy written beside the float network, run on CPU: int8 (transformer "
            "layers), int8-conv (convolutions too: faster, less exact) or none."
        ),
    ] = "int8",
    output_dir: Annotated[Path | None, typer.Option(help="Default: the Hark model cache.")] = None,
) -> None:
    """Convert a wav2vec2 CTC model to ONNX once (needs `pip install 'hark\\[convert]'`)."""
    from hark.align import AlignError
    from hark.align.convert import convert_aligner

    try:
        path = convert_aligner(hf_id, output_dir, quantize)
    except ValueError as exc:
        err.print(f"[red]error:[/] --quantize: {exc}")
        raise typer.Exit(2) from None
    except AlignError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    typer.echo(str(path))


@models_app.command("download")
def models_download(
    name: Annotated[str, typer.Argument(help="Model name or Hugging Face repo id.")],
    download_root: Annotated[Path | None, typer.Option(help="Cache directory.")] = None,
) -> None:
    """Fetch a model into the cache, for later offline use."""
    from hark.model_files import ModelError, resolve_whisper_model

    try:
        path = resolve_whisper_model(name, download_root=download_root)
    except ModelError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    typer.echo(str(path))


def main() -> None:
    app(prog_name="hark")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
