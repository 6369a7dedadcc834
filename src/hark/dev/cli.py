"""`hark dev`: developer tooling (random-weight test models)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Developer tools: test fixtures for Hark's own test suite.")


@app.callback()
def _dev() -> None:
    """Developer tools: test fixtures for Hark's own test suite."""
    # A callback keeps `make-test-models` a named subcommand even while it is the only one.


@app.command("make-test-models")
def make_test_models(
    directory: Annotated[Path, typer.Argument(help="Where to write the models.")],
    arch: Annotated[
        list[str] | None,
        typer.Option(
            "--arch",
            help="Whisper architecture to build (repeatable): tiny, base, large-v2, large-v3, "
            "large-v3-turbo, distil-large-v3, v3-tiny, v3-turbo-tiny. Default: tiny and base.",
        ),
    ] = None,
    include_large: Annotated[
        bool,
        typer.Option(
            "--include-large",
            help="Also build large-v2, large-v3, large-v3-turbo and distil-large-v3 "
            "(0.8-1.55 B parameters, up to ~6 GB RAM each, slow).",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even when the cached models are current.")
    ] = False,
    whisper_sdist: Annotated[
        Path | None,
        typer.Option(
            "--whisper-sdist",
            help="Local openai-whisper sdist (tokenizer source) instead of the cache or pip. "
            "Same as $HARK_WHISPER_SDIST.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Write deterministic random-weight Whisper models (CTranslate2, int8) into DIRECTORY."""
    # Imported here so that `hark --help` does not load CTranslate2.
    from hark.dev.fixtures import whisper
    from hark.dev.whisper_tokenizer import SDIST_ENV

    if whisper_sdist is not None:
        os.environ[SDIST_ENV] = str(whisper_sdist)
    archs = list(arch) if arch else list(whisper.DEFAULT_ARCHITECTURES)
    if include_large:
        archs += sorted(whisper.LARGE_ARCHITECTURES)
    unknown = [a for a in archs if a not in whisper.WHISPER_ARCHITECTURES]
    if unknown:
        known = ", ".join(whisper.WHISPER_ARCHITECTURES)
        raise typer.BadParameter(
            f"unknown {', '.join(unknown)} (known: {known})", param_hint="--arch"
        )
    builders = whisper.discover_builders()
    before = {name: whisper.is_up_to_date(directory, name) for name in builders}
    paths = whisper.ensure_test_models(directory, archs, force=force)
    for name, path in paths.items():
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        state = "up to date" if before.get(name) and not force else "built"
        typer.echo(f"{name}: {path} ({size / 1e6:.1f} MB, {state})")
