// Bundled by scripts/whipjs.sh into dist/clients.js for the e2e pages:
// the clients exactly as published on npm, exposed as globals.
import { WHIPClient } from "@eyevinn/whip-web-client";
import { WHEPClient } from "whip-whep/whep.js";

window.EyevinnWHIPClient = WHIPClient;
window.MedoozeWHEPClient = WHEPClient;
