#!/usr/bin/env bash
# whipjs.sh fetches the third-party WHIP/WHEP browser clients that the e2e
# tests drive (@eyevinn/whip-web-client, medooze's whip-whep), at the
# versions pinned in e2e/whipjs/package-lock.json, and bundles them with
# esbuild into e2e/whipjs/dist/clients.js. node_modules/ and dist/ stay out
# of git. The e2e tests run it themselves when the bundle is missing;
# `scripts/deps.sh test` runs it too.
set -euo pipefail
cd "$(dirname "$0")/../e2e/whipjs"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
