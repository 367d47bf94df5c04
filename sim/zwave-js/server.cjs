// Driver options for `zwave-server` in keyward's tests. The driver's cache
// (what it remembers of each node) lives in KEYWARD_SIM_CACHE_DIR, so a test
// can "reinstall Z-Wave JS" by starting the server on an empty directory.
"use strict";

module.exports = {
	storage: { cacheDir: process.env.KEYWARD_SIM_CACHE_DIR || "./cache" },
	logConfig: { enabled: true, level: process.env.KEYWARD_SIM_LOG_LEVEL || "info", forceConsole: true },
	// Fixed test keys; the simulated locks are included without security.
	securityKeys: { S0_Legacy: Buffer.from("0102030405060708090a0b0c0d0e0f10", "hex") },
	emitValueUpdateAfterSetValue: false,
};
