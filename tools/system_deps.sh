#!/usr/bin/env bash
# Installs the Debian packages a make target needs, only those missing:
#   tools/system_deps.sh npm       npm, to vendor MathJax, require.js and the widget manager (make book)
#   tools/system_deps.sh browser   Chromium and CJK fonts, for the browser tests (make test)
set -euo pipefail

missing=()
case "${1:-}" in
  npm)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    ;;
  browser)
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing+=(fonts-noto-cjk)   # the glossary's Chinese
    ;;
  *)
    echo "usage: $0 npm|browser" >&2
    exit 2
    ;;
esac
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
echo "Installing the Debian packages ${missing[*]} (apt-get)"
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
