#!/usr/bin/env bash
# Rebuild assets/00-vendor/plotly-<version>/plotly-dashboard.min.js from the npm registry: the
# plotly.js package (by name, `npm pack`) with only the trace types the app draws (TRACES;
# layouts/figures/ makes scatter, bar and scatterpolar). No official partial bundle has
# exactly these: "basic" lacks scatterpolar, "strict" has every trace type.
# Usage: scripts/build_plotly_bundle.sh [PLOTLY_VERSION]   (needs node and npm)
# The version should be the one plotly.py ships (python -c "import plotly.offline as o;
# print(o.get_plotlyjs_version())"), the one Dash's own plotly.min.js has.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-4.1.1}
traces=(bar scatterpolar)  # scatter is in plotly.js's core
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "plotly.js@$version" >/dev/null && tar xzf "plotly.js-$version.tgz")
pkg=$work/package
(cd "$pkg" && npm install --silent --omit=dev --ignore-scripts --no-audit --no-fund)
mkdir -p "$work/tools"
(cd "$work/tools" && npm init -y >/dev/null &&
    npm install --silent --no-audit --no-fund esbuild@0.28 esbuild-plugin-inline-css@0.0.1 \
        esbuild-plugin-environment@0.5.0)
{
    echo "'use strict';"
    echo "var Plotly = require('./core');"
    printf "Plotly.register([%s]);\n" "$(printf "require('./%s')," "${traces[@]}")"
    echo "module.exports = Plotly;"
} >"$pkg/lib/index-dashboard.js"
dest=assets/00-vendor/plotly-$version
mkdir -p "$dest"
banner="/*! plotly.js v$version, partial bundle: scatter ${traces[*]} (scripts/build_plotly_bundle.sh).
 Copyright 2012-2026, Plotly, Inc. Licensed under the MIT license (LICENSE beside this file). */"
node scripts/plotly_bundle.js "$work/tools" "$pkg/lib/index-dashboard.js" \
    "$dest/plotly-dashboard.min.js" "$banner"
cp "$pkg/LICENSE" "$dest/LICENSE"
# Each trace type asked for is in it (tests/browser/test_page_weight_browser.py draws them).
for t in "${traces[@]}"; do grep -q "name:\"$t\"" "$dest/plotly-dashboard.min.js"; done
echo "built $dest/plotly-dashboard.min.js ($(wc -c <"$dest/plotly-dashboard.min.js") bytes)"
