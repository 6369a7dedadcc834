"""`hark remote transcribe`: files through a Hark server's (or a RunPod endpoint's) jobs API.

All files are submitted first, then awaited, so the server batches them together.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from hark.cli_options import given, option_parameters, parse_formats
from hark.options import TranscribeOptions

app = typer.Typer(help="Use a remote Hark server or RunPod endpoint.", no_args_is_help=True)
err = Console(stderr=True)
REMOTE_FORMATS = ("json", "txt", "tsv", "srt", "vtt")


def transcribe(
    files: Annotated[list[Path], typer.Argument(help="Audio or video files.", metavar="FILE")],
    url: Annotated[
        str,
        typer.Option(
            help="Server URL (http://host:9080) or https://api.runpod.ai/v2/ENDPOINT_ID.",
            envvar="HARK_URL",
        ),
    ],
    api_key: Annotated[
        str | None, typer.Option(help="Bearer key.", envvar="HARK_API_KEY", show_default=False)
    ] = None,
    output_dir: Annotated[Path, typer.Option("-o", "--output-dir", help="Where to write.")] = Path(
        "."
    ),
    output_format: Annotated[
        list[str],
        typer.Option(
            "-f",
            "--output-format",
            metavar="FORMATS",
            help=f"{', '.join(REMOTE_FORMATS)} or all; repeat the flag or separate with commas.",
        ),
    ] = ["all"],  # noqa: B006 - typer reads the default, nothing mutates it
    poll_interval: Annotated[float, typer.Option(help="Seconds between status polls.")] = 1.0,
    timeout: Annotated[float | None, typer.Option(help="Give up after this long, s.")] = None,
    **option_values: Any,
) -> None:
    """Transcribe files on a remote server; results are written like `hark transcribe`."""
    from hark.client import Client, ClientError, JobFailed, audio_input

    try:
        formats = parse_formats(output_format, REMOTE_FORMATS)
        formats = list(REMOTE_FORMATS) if "all" in formats else formats
        options = TranscribeOptions(**given(option_values, TranscribeOptions))
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    extra = [f for f in formats if f != "json"]
    input = {**options.model_dump(mode="json", exclude_unset=True), "output_formats": extra}
    output_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    with Client(url, api_key) as client:
        submitted = []
        for path in files:
            try:
                submitted.append((path, client.run({**input, **audio_input(path)})))
            except (OSError, ClientError) as exc:
                err.print(f"[red]{path}:[/] {exc}")
                failures += 1
        for path, job in submitted:
            try:
                done = client.wait(job["id"], poll_interval=poll_interval, timeout=timeout)
                if done["status"] != "COMPLETED":
                    raise JobFailed(done)
                _write(done["output"], output_dir / path.stem, formats)
                err.print(f"{path}: done ({done.get('executionTime', 0) / 1000:.1f} s)")
            except (ClientError, TimeoutError) as exc:
                err.print(f"[red]{path}:[/] {exc}")
                failures += 1
    raise typer.Exit(1 if failures else 0)


def _write(output: dict[str, Any], base: Path, formats: list[str]) -> None:
    for fmt in formats:
        if fmt == "json":
            data = {k: v for k, v in output.items() if k not in REMOTE_FORMATS}
            text = json.dumps(data, ensure_ascii=False, indent=2)
        else:
            text = output[fmt]
        base.with_suffix(f".{fmt}").write_text(text, encoding="utf-8")


_signature = inspect.signature(transcribe, eval_str=True)
transcribe.__signature__ = _signature.replace(  # type: ignore[attr-defined]
    parameters=[p for p in _signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    + option_parameters(TranscribeOptions)
)
app.command(no_args_is_help=True)(transcribe)
