// Build assets/00-vendor/plotly-<version>/plotly-dashboard.min.js: plotly.js with only the
// trace types the app draws. Run by scripts/build_plotly_bundle.sh, which unpacks the
// plotly.js npm package, installs its dependencies and the build tools, and passes:
//   node plotly_bundle.js TOOLS_DIR ENTRY OUTFILE BANNER
// The options are those of plotly.js's own esbuild-config.js (iife, global `Plotly`, the
// inline-CSS and environment plugins, the regl/stream aliases, es2016), minified, plus what
// its partial-bundle task does to every official bundle: drop the attributes' descriptions.
'use strict';
const fs = require('fs');
const path = require('path');

const [tools, entry, outfile, banner] = process.argv.slice(2);
const esbuild = require(path.join(tools, 'node_modules/esbuild'));
const InlineCSSPlugin = require(path.join(tools, 'node_modules/esbuild-plugin-inline-css'));
const { environmentPlugin } = require(path.join(tools, 'node_modules/esbuild-plugin-environment'));

// An attribute's description (a string, or strings joined) documents the schema and is never
// read when drawing. Only literals are matched, each followed by a comma or the end of its
// object, and no line break is taken after one, so the code stays valid (a check in
// build_plotly_bundle.sh loads the result).
const STR = String.raw`(?:'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")`;
const END = String.raw`(?:\s*,|(?=\s*\}))`;
const STRING_META = new RegExp(String.raw`\n\s*description:\s*` + STR + END, 'g');
const JOINED_META = new RegExp(
  String.raw`\n\s*description:\s*\[(?:\s*` + STR + String.raw`\s*,?)*\s*\]` +
    String.raw`\.join\(\s*'[^']*'\s*\)` + END,
  'g'
);
const src = path.resolve(path.dirname(entry), '..', 'src') + path.sep;

const stripDescriptions = {
  name: 'strip-descriptions',
  setup(build) {
    build.onLoad({ filter: /\.js$/ }, async (args) => {
      if (!args.path.startsWith(src)) return undefined;
      const code = await fs.promises.readFile(args.path, 'utf8');
      return { contents: code.replace(STRING_META, '').replace(JOINED_META, ''), loader: 'js' };
    });
  },
};

esbuild
  .build({
    entryPoints: [entry],
    outfile,
    format: 'iife',
    globalName: 'Plotly',
    bundle: true,
    minify: true,
    sourcemap: false,
    legalComments: 'eof',
    plugins: [InlineCSSPlugin(), environmentPlugin({ NODE_DEBUG: false }), stripDescriptions],
    alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
    define: { global: 'window', 'define.amd': 'false' },
    target: 'es2016',
    logLevel: 'warning',
    banner: { js: banner },
    footer: { js: 'window.Plotly = Plotly;' },
  })
  .catch(() => process.exit(1));
