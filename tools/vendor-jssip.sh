#!/usr/bin/env bash
# Rebuilds ivr/web/static/vendor/jssip-<version>.min.js and LICENSE.jssip from the npm registry.
#
# Why a build and not a copy of the package's dist/: from 3.11.0 JsSIP stopped publishing a browser
# bundle ("Apps using JsSIP are responsible to do it", its CHANGELOG); of the 3.x releases after that
# only 3.12.0 carries a dist/, and that file says "JsSIP 3.11.1" inside. So we bundle the pinned
# release ourselves with JsSIP's own recipe (its npm-scripts build(): esbuild, iife, global `JsSIP`,
# es2015, no template literals, the same banner). Every input is pinned exactly (versions below), so
# running this again gives the same file; the console only ever loads the vendored copy, never a CDN.
set -euo pipefail
cd "$(dirname "$0")/.."

JSSIP=3.13.8
# JsSIP's runtime dependencies as resolved on the day we vendored it (all MIT), and the bundler.
DEPS=(debug@4.4.3 ms@2.1.3 events@3.3.0 sdp-transform@2.15.0)
ESBUILD=0.28.2

out=ivr/web/static/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm init -y >/dev/null &&
  npm install --silent --save-exact --ignore-scripts "jssip@$JSSIP" "${DEPS[@]}" "esbuild@$ESBUILD" >/dev/null)
installed=$(node -p "require('$work/node_modules/jssip/package.json').version")
[[ $installed == "$JSSIP" ]] || { echo "npm gave jssip $installed, expected $JSSIP" >&2; exit 1; }

cat >"$work/build.mjs" <<JS
import esbuild from 'esbuild';
import pkg from './node_modules/jssip/package.json' with { type: 'json' };
const banner = \`
 /*
  * JsSIP \${pkg.version}
  * \${pkg.description}
  * Copyright: 2012-2026 \${pkg.contributors.join(' ')}
  * Homepage: \${pkg.homepage}
  * License: \${pkg.license}
  * Bundled for Siaga 112 by tools/vendor-jssip.sh with debug, ms, events, sdp-transform (MIT).
  */\`;
await esbuild.build({
  entryPoints: ['node_modules/jssip/lib/JsSIP.js'],
  outfile: process.argv[2],
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'iife',
  globalName: 'JsSIP',
  platform: 'browser',
  target: ['es2015'],
  supported: { 'template-literal': false },
  banner: { js: banner },
});
JS
mkdir -p "$out"
(cd "$work" && node build.mjs "$PWD/jssip.min.js")
cp "$work/jssip.min.js" "$out/jssip-$JSSIP.min.js"

{
  for package in jssip debug ms events sdp-transform; do
    version=$(node -p "require('$work/node_modules/$package/package.json').version")
    license=$(find "$work/node_modules/$package" -maxdepth 1 -iname 'licen[sc]e*' | head -n 1)
    printf '==== %s %s (npm), bundled into jssip-%s.min.js ====\n\n' "$package" "$version" "$JSSIP"
    cat "$license"
    printf '\n\n'
  done
} >"$out/LICENSE.jssip"
sha256sum "$out/jssip-$JSSIP.min.js"
