"""Reading file headers directly, where FFmpeg's view is not enough.

Recognising common signatures makes "cannot be opened" messages concrete (damaged media versus
something that is not media at all); the WAV `data` chunk, an MP3's Xing/Info/VBRI frame and
the MP4 top-level box structure tell truncated files from whole ones.
"""

from __future__ import annotations

from hark.audio.sources import MediaInput

_MEDIA_SIGNATURES = {
    b"fLaC": "a FLAC file",
    b"OggS": "an Ogg file",
    b"\x1a\x45\xdf\xa3": "a WebM/Matroska file",
    b"ID3": "an MP3 file",
    b"FORM": "an AIFF file",
    b"#!AMR": "an AMR file",
    b"caff": "a CAF file",
    b"\x30\x26\xb2\x75": "a WMA/ASF file",
}
_OTHER_SIGNATURES = {
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"PK\x03\x04": "a ZIP archive or office document",
}


def is_mp4(head: bytes) -> bool:
    """Whether `head` starts an ISO base media file (MP4/M4A/MOV): an `ftyp` box first."""
    return head[4:8] == b"ftyp"


def media_kind(head: bytes) -> str | None:
    """A name for well-known audio/video signatures: failing to open those means damage."""
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "a WAV file"
    if is_mp4(head):
        return "an MP4/M4A/MOV file"
    for magic, name in _MEDIA_SIGNATURES.items():
        if head.startswith(magic):
            return name
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "an AAC (ADTS) file"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "an MP3 file"
    return None


def non_media_kind(head: bytes) -> str | None:
    """A name for common non-media files, to make "not audio" messages concrete."""
    for magic, name in _OTHER_SIGNATURES.items():
        if head.startswith(magic):
            return name
    sample = head[:4096]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character may be cut at the end of the sample.
        text = sample[:-4].decode("utf-8", errors="replace") if len(sample) > 4 else ""
        if "\ufffd" in text:
            return None
    if text and sum(c.isprintable() or c in "\r\n\t" for c in text) >= 0.98 * len(text):
        return "a text file"
    return None


def wav_data_duration(inp: MediaInput) -> float | None:
    """Seconds the RIFF `data` chunk declares (FFmpeg clamps this to the file's size)."""
    head = inp.head
    if not (head[:4] == b"RIFF" and head[8:12] == b"WAVE"):
        return None
    pos = 12
    byte_rate = 0
    while pos + 8 <= len(head):
        chunk, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if chunk == b"fmt " and pos + 20 <= len(head):
            byte_rate = int.from_bytes(head[pos + 16 : pos + 20], "little")
        elif chunk == b"data":
            # Writers that cannot seek back leave 0 or ~4 GiB placeholders: length unknown.
            if byte_rate <= 0 or size == 0 or size >= 0x7FFF0000:
                return None
            return size / byte_rate
        pos += 8 + size + (size & 1)
    return None


def mp3_has_length_header(inp: MediaInput) -> bool:
    """Whether an MP3 carries a Xing/Info/VBRI frame, i.e. a length FFmpeg does not estimate."""
    start = 0
    head = inp.head
    if head.startswith(b"ID3") and len(head) >= 10:
        # ID3v2 size: four 7-bit bytes, plus the 10-byte header (and footer, if flagged).
        size = 0
        for b in head[6:10]:
            size = (size << 7) | (b & 0x7F)
        start = 10 + size + (10 if head[5] & 0x10 else 0)
    first_frame = inp.read_at(start, 4096) if start + 4096 > len(head) else head[start:]
    window = first_frame[:4096]
    return any(tag in window for tag in (b"Xing", b"Info", b"VBRI"))


def mp4_structure_problem(inp: MediaInput) -> str | None:
    """Describe a cut or unfinished MP4 from its top-level boxes; None if it looks whole."""
    if not is_mp4(inp.head) or inp.size is None:
        return None
    pos = 0
    seen: set[bytes] = set()
    while pos + 8 <= inp.size:
        header = inp.read_at(pos, 16)
        if len(header) < 8:
            break
        size = int.from_bytes(header[:4], "big")
        box = header[4:8]
        if size == 1 and len(header) >= 16:
            size = int.from_bytes(header[8:16], "big")
        elif size == 0:
            size = inp.size - pos  # extends to the end of the file
        if size < 8:
            return "damaged (invalid MP4 box structure)"
        seen.add(box)
        if pos + size > inp.size:
            name = box.decode("latin-1")
            return (
                f"truncated: its '{name}' box needs {pos + size} bytes but the file has {inp.size}"
            )
        pos += size
    if b"moov" not in seen and b"moof" not in seen:
        return "incomplete: it has no 'moov' index (the recording was not finalised)"
    return None
