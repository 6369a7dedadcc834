"""OpenAI Realtime transcription sessions: `GET /v1/realtime?intent=transcription`."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["Live"])
