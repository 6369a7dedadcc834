"""The batch loop behind `hark transcribe`: progress, per-file failures, output files."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from hark.options import TranscribeOptions

err = Console(stderr=True)


def output_names(files: list[Path]) -> list[str]:
    """A distinct base name per input: the stem, or the full name where stems collide."""
    stems = [f.stem for f in files]
    names, used = [], set()
    for f, stem in zip(files, stems, strict=True):
        name = stem if stems.count(stem) == 1 else f.name
        base, n = name, 2
        while name in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name)
        names.append(name)
    return names


def run_batch(
    files: list[Path],
    *,
    options: TranscribeOptions,
    output_dir: Path,
    output_format: list[str],
    subtitles: dict[str, Any],
    quiet: bool,
    load: dict[str, Any],
    speakers: dict[str, Path] | None = None,
) -> list[tuple[Path, str]]:
    """Transcribe every file; return (file, error) for those that failed."""
    from hark.audio import AudioError, probe
    from hark.cli_options import parse_formats
    from hark.diarize import DiarizationError
    from hark.engine import Engine
    from hark.formats import FORMATS, SubtitleOptions, write_all
    from hark.model_files import ModelError
    from hark.pipeline import load_pipeline

    try:
        formats = parse_formats(output_format, FORMATS)
        sub_options = SubtitleOptions(**subtitles)
    except (ValueError, TypeError) as exc:
        err.print(f"[red]error:[/] {exc}")
        return [(f, str(exc)) for f in files]

    try:
        with err.status(f"Loading model {load['model']}…", spinner="dots"):
            pipeline = load_pipeline(**load)
    except (ModelError, ValueError, RuntimeError) as exc:
        err.print(f"[red]error:[/] could not load the model: {exc}")
        return [(f, "model failed to load") for f in files]
    # Two files at a time: the next file decodes and runs VAD while this one's chunks fill
    # the batches, and its chunks join the batches as this one's run out.
    engine = Engine(
        pipeline, max_requests=2, queue_size=len(files), workers=load.get("num_workers", 1)
    )
    if not quiet:
        info = pipeline.model_info
        err.print(
            f"Loaded {info.name} on {info.device} ({info.compute_type}) "
            f"in {pipeline.load_seconds:.1f} s"
        )

    durations = []
    for f in files:
        try:
            durations.append(probe(f).duration or 0.0)
        except (AudioError, OSError):
            durations.append(0.0)

    output_dir.mkdir(parents=True, exist_ok=True)
    failures: list[tuple[Path, str]] = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with (
        Progress(*columns, console=err, disable=quiet, transient=False) as bar,
        ThreadPoolExecutor(2, thread_name_prefix="hark-file") as pool,
        engine,
    ):
        overall = bar.add_task(f"all {len(files)} files", total=sum(durations) or len(files))
        tasks = [
            bar.add_task(f"  {f.name}", total=d or None)
            for f, d in zip(files, durations, strict=True)
        ]
        done: dict[int, float] = {}

        def transcribe(index: int) -> tuple[Any, float]:
            def on_progress(p: Any) -> None:
                if p.stage == "asr" and p.total:
                    bar.update(tasks[index], total=p.total, completed=p.done)
                    done[index] = p.done
                    if sum(durations):
                        bar.update(overall, completed=sum(done.values()))

            started = time.perf_counter()
            transcript = engine.transcribe(
                files[index], options, speakers=speakers, progress=on_progress
            )
            return transcript, time.perf_counter() - started

        running = [pool.submit(transcribe, i) for i in range(len(files))]
        for index, (f, name, duration) in enumerate(
            zip(files, output_names(files), durations, strict=True)
        ):
            task = tasks[index]
            try:
                transcript, elapsed = running[index].result()
                written = write_all(transcript, output_dir, name, formats, sub_options)
            except (AudioError, DiarizationError, ValueError, OSError) as exc:
                failures.append((f, str(exc)))
                bar.update(task, description=f"  [red]✗ {f.name}[/]")
                err.print(f"[red]error:[/] {f}: {exc}")
            else:
                speed = transcript.duration / elapsed if elapsed else 0.0
                bar.update(
                    task,
                    total=1,
                    completed=1,
                    description=f"  [green]✓[/] {f.name} ({speed:.1f}x realtime)",
                )
                if quiet:
                    err.print(f"{f} -> {', '.join(str(p) for p in written)}")
            done[index] = duration
            bar.update(overall, completed=sum(done.values()) if sum(durations) else index + 1)

    _summary(files, failures)
    return failures


def _summary(files: list[Path], failures: list[tuple[Path, str]]) -> None:
    if not failures:
        err.print(f"[green]{len(files)} file(s) transcribed.[/]")
        return
    table = Table(
        "file",
        "error",
        title=f"{len(failures)} of {len(files)} file(s) failed",
        title_style="bold red",
    )
    for f, message in failures:
        table.add_row(str(f), message)
    err.print(table)
