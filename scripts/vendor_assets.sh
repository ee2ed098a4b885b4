#!/usr/bin/env bash
# Refresh assets/00-vendor/ from the npm registry (npm pack, by package name; no CDN).
# Usage: scripts/vendor_assets.sh [BOOTSTRAP_VERSION] [INTER_VERSION] [MONO_VERSION]
# A new version lands in a new folder; update assets/theme/fonts.css and the README table.
set -euo pipefail
cd "$(dirname "$0")/.."
bs=${1:-5.3.6} inter=${2:-5.3.0} mono=${3:-5.3.0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "bootstrap@$bs" "@fontsource-variable/inter@$inter" \
    "@fontsource-variable/jetbrains-mono@$mono" >/dev/null)
unpack() { mkdir -p "$work/$1" && tar xzf "$work/$2" -C "$work/$1"; }
unpack bs "bootstrap-$bs.tgz"
unpack inter "fontsource-variable-inter-$inter.tgz"
unpack mono "fontsource-variable-jetbrains-mono-$mono.tgz"
dest=assets/00-vendor
mkdir -p "$dest/bootstrap-$bs" "$dest/inter-$inter" "$dest/jetbrains-mono-$mono"
# The source map is not shipped, so drop the comment that points browsers at it.
sed '/^\/\*# sourceMappingURL=.*\*\/$/d' "$work/bs/package/dist/css/bootstrap.min.css" \
    >"$dest/bootstrap-$bs/bootstrap.min.css"
cp "$work/bs/package/LICENSE" "$dest/bootstrap-$bs/"
cp "$work/inter/package/files/inter-latin-wght-normal.woff2" "$work/inter/package/LICENSE" \
    "$dest/inter-$inter/"
cp "$work/mono/package/files/jetbrains-mono-latin-wght-normal.woff2" \
    "$work/mono/package/LICENSE" "$dest/jetbrains-mono-$mono/"
echo "vendored bootstrap $bs, inter $inter, jetbrains-mono $mono into $dest"
