#!/usr/bin/env bash
# Make an installed venv smaller for a container image, without changing what runs:
#   scripts/slim-venv.sh VENV_DIR
# - strips the symbol tables and debug sections from shared objects that still carry them
#   (CTranslate2's Python extension alone is 68 MB with them, 1.3 MB without); the dynamic
#   symbols that loading needs stay. Libraries already stripped are left byte for byte as
#   they are (NVIDIA's CUDA wheels all are), and so are the libraries auditwheel vendors into
#   `<package>.libs/`: patchelf has rewritten their headers, and strip can then misalign their
#   segments (seen: scipy's and numpy's OpenBLAS no longer load, "ELF load command
#   address/offset not page-aligned");
# - deletes the `tests` folders that packages ship inside themselves (numpy, scipy, ...),
#   which nothing imports at run time.
# Needs `strip` and `readelf` (Debian's binutils, in the images' build stage only).
set -euo pipefail
venv=${1:?usage: scripts/slim-venv.sh VENV_DIR}
for tool in strip readelf; do
  command -v "$tool" >/dev/null || { echo "slim-venv: $tool not found (apt-get install binutils)" >&2; exit 1; }
done
site=""
[ -d "$venv/lib" ] && site=$(find "$venv/lib" -maxdepth 2 -type d -name site-packages | head -n 1)
[ -n "$site" ] || { echo "slim-venv: no site-packages under $venv/lib" >&2; exit 1; }

before=$(du -sb "$venv" | cut -f1)
stripped=0
while IFS= read -r -d '' lib; do
  # ELF files with a static symbol table (.symtab) are the ones strip would shrink.
  # (grep without -q reads to the end: an early exit would fail the pipe under pipefail)
  if readelf -S "$lib" 2>/dev/null | grep '\.symtab' >/dev/null; then
    strip --strip-unneeded "$lib"
    stripped=$((stripped + 1))
  fi
done < <(find "$site" -path '*.libs/*' -prune -o -type f \( -name '*.so' -o -name '*.so.*' \) -print0)
find "$site" -mindepth 2 -type d -name tests -prune -exec rm -rf {} +
after=$(du -sb "$venv" | cut -f1)
echo "slim-venv: stripped $stripped shared objects, removed tests folders:" \
  "$((before / 1000000)) MB -> $((after / 1000000)) MB"
