// Simulated Z-Wave keypad locks for zwave-js's `mock-server`.
//
// The Z-Wave side is zwave-js's own mock controller and mock nodes, with its
// built-in User Code, Door Lock and Notification behaviours; this file only
// declares the locks and adds what a real keypad deadbolt does that the
// built-in behaviours do not:
//   - it refuses a code another slot already holds (Access Control
//     notification 15, "new user code not added due to duplicate code"), and
//     the slot stays empty, as Schlage and Kwikset locks do;
//   - it answers Battery Gets;
//   - with "masked": true it hides codes in its answers ("****"), as many
//     Yale and some Kwikset models do: a Get says whether a slot is occupied,
//     never by what;
//   - it can be dropped off the network (it stops acknowledging frames);
//   - codes typed at its keypad, codes programmed at the lock, a factory
//     wipe, manual operation and jams, driven by the tests through a small
//     HTTP control port on 127.0.0.1.
//
// Configuration (environment):
//   KEYWARD_SIM_LOCKS         JSON list of locks: [{"id": 2, "slots": 30, "masked": false,
//                             "wrong_code_limit": false}], default one 30-slot lock
//
// A lock with "wrong_code_limit": true keeps its own wrong-code limit in two
// Configuration CC (v4) parameters, named as Yale's are ("Wrong Code Limit"
// 3–10, "Wrong Code Lockout Time" 0–127 s), under a product id no zwave-js
// device file knows, so the driver learns the names from the lock itself.
// The others are a Schlage BE469, whose limit is fixed in the lock.
//   KEYWARD_SIM_CONTROL_PORT  the control port (default 0: none)
//
// It also splits what the driver writes into single frames: mock-server
// 15.29 fails with "does not start with SOF (ZW0001)" when an ACK and the
// next frame arrive in one TCP chunk. And it keeps the mock controller alive
// when the driver goes away mid-message (zwave-server killed, as the tests
// do): a real controller stick does not die with its host, but mock-server
// 15.29 exits on the unanswered ACK's rejected promise or the socket's reset.

"use strict";

const http = require("node:http");

process.on("unhandledRejection", (reason) => {
	console.error(`mock: the host went away mid-message (${reason && reason.message ? reason.message : reason})`);
});
// mock-server's socket has no error handler: a host killed with data in
// flight (ECONNRESET, EPIPE) would take the controller down with it.
process.on("uncaughtException", (error) => {
	if (error && (error.code === "ECONNRESET" || error.code === "EPIPE")) {
		console.error(`mock: the host's connection broke (${error.code})`);
		return;
	}
	console.error(error);
	process.exit(1);
});

module.exports.default = function config({ require }) {
	const cc = require("@zwave-js/cc");
	const { CommandClasses } = require("@zwave-js/core");
	const { createMockZWaveRequestFrame } = require("@zwave-js/testing");

	const locks = JSON.parse(process.env.KEYWARD_SIM_LOCKS || '[{"id": 2, "slots": 30}]');
	const ENABLED = 1;
	const AVAILABLE = 0;
	const slotCode = (node, slot) => node.state.get(`UserCode_userCode_${slot}`);
	const slotStatus = (node, slot) => node.state.get(`UserCode_userIdStatus_${slot}`) ?? AVAILABLE;
	const setSlot = (node, slot, status, code) => {
		node.state.set(`UserCode_userIdStatus_${slot}`, status);
		node.state.set(`UserCode_userCode_${slot}`, status === AVAILABLE ? undefined : code);
	};
	const codeText = (code) => (typeof code === "string" ? code : code ? Buffer.from(code).toString("ascii") : "");
	const slotsOf = (node) => node.keywardSlots;

	async function report(controller, node, command) {
		await node.sendToController(createMockZWaveRequestFrame(command, { ackRequested: false }));
	}

	function notification(controller, event, userId) {
		return new cc.NotificationCCReport({
			nodeId: controller.ownNodeId,
			notificationType: 6,
			notificationEvent: event,
			eventParameters: userId === undefined ? undefined : Uint8Array.from([userId]),
		});
	}

	function doorLockReport(controller, mode) {
		return new cc.DoorLockCCOperationReport({
			nodeId: controller.ownNodeId,
			currentMode: mode,
			targetMode: mode,
			outsideHandlesCanOpenDoor: [true, true, true, true],
			insideHandlesCanOpenDoor: [true, true, true, true],
			duration: undefined,
		});
	}

	// A node off the network hears nothing and answers nothing.
	const offNetwork = {
		handleCC(controller, self) {
			if (self.keywardOffline) return { action: "stop" };
		},
	};

	// The lock's own duplicate check, before the built-in behaviour stores the code.
	const refuseDuplicates = {
		handleCC(controller, self, received) {
			if (!(received instanceof cc.UserCodeCCSet)) return;
			if (received.userIdStatus === AVAILABLE) return;
			const code = codeText(received.userCode);
			for (let slot = 1; slot <= slotsOf(self); slot++) {
				if (slot === received.userId || slotStatus(self, slot) === AVAILABLE) continue;
				if (codeText(slotCode(self, slot)) === code) {
					setSlot(self, received.userId, AVAILABLE);
					void report(controller, self, notification(controller, 15, received.userId));
					return { action: "stop" };
				}
			}
		},
	};

	// A lock that hides its codes: the slot's status, and stars for the code.
	const answerMasked = {
		handleCC(controller, self, received) {
			if (!(received instanceof cc.UserCodeCCGet) || !self.keywardMasked) return;
			if (received.userId < 1 || received.userId > slotsOf(self)) return;
			const status = slotStatus(self, received.userId);
			const userCode = status === AVAILABLE ? "" : "*".repeat(codeText(slotCode(self, received.userId)).length);
			return {
				action: "sendCC",
				cc: new cc.UserCodeCCReport({ nodeId: controller.ownNodeId, userId: received.userId, userIdStatus: status, userCode }),
			};
		},
	};

	const answerBattery = {
		handleCC(controller, self, received) {
			if (received instanceof cc.BatteryCCGet) {
				const level = self.state.get("Battery_level") ?? 87;
				return { action: "sendCC", cc: new cc.BatteryCCReport({ nodeId: controller.ownNodeId, level }) };
			}
		},
	};

	// mock-server hands the controller whatever one TCP read held; give it one frame at a time.
	let pending = Buffer.alloc(0);
	const oneFrameAtATime = {
		async onHostData(controller, data) {
			pending = Buffer.concat([pending, Buffer.from(data)]);
			while (pending.length > 0) {
				const first = pending[0];
				let length = 1;
				if (first === 0x01) {
					if (pending.length < 2) return true;
					length = pending[1] + 2;
					if (pending.length < length) return true;
				}
				const frame = pending.subarray(0, length);
				pending = pending.subarray(length);
				if (length === 1 && (first === 0x06 || first === 0x15 || first === 0x18)) {
					void controller.serialOnData(first);
				} else if (length > 1) {
					void controller.serialOnData(Uint8Array.from(frame));
				}
			}
			return true;
		},
	};

	// A new driver session starts with a capabilities query (after a soft
	// reset): a real stick has forgotten the old host's unfinished command by
	// then, so the mock controller forgets it too (mock-server 15.29 stays
	// "busy" for ever after a host vanished mid-command).
	const newSessionForgetsTheOldOne = {
		async onHostMessage(controller, message) {
			const name = message && message.constructor ? message.constructor.name : "";
			if (name === "GetSerialApiCapabilitiesRequest" || name === "SoftResetRequest") {
				controller.state.set("communicationState", 0);
			}
			return false;
		},
	};

	const WRONG_CODE_LIMIT = 4;
	const WRONG_CODE_LOCKOUT_TIME = 7;
	const settings = (lock) =>
		lock.wrong_code_limit
			? [
					{
						ccId: CommandClasses.Configuration,
						version: 4,
						parameters: [
							{ "#": WRONG_CODE_LIMIT, valueSize: 1, name: "Wrong Code Limit", minValue: 3, maxValue: 10, defaultValue: 5 },
							{ "#": WRONG_CODE_LOCKOUT_TIME, valueSize: 1, name: "Wrong Code Lockout Time", minValue: 0, maxValue: 127, defaultValue: 60 },
						],
					},
				]
			: [];
	const product = (lock) =>
		lock.wrong_code_limit
			? { manufacturerId: 0x0129, productType: 0x7777, productId: 0x0001 } // ASSA ABLOY (Yale), unknown model
			: { manufacturerId: 0x003b, productType: 0x6341, productId: 0x5044 }; // Allegion (Schlage) BE469

	const nodes = locks.map((lock) => ({
		id: lock.id,
		capabilities: {
			genericDeviceClass: 0x40, // Entry Control
			specificDeviceClass: 0x03, // Secure Keypad Door Lock
			...product(lock),
			commandClasses: [
				CommandClasses.Version,
				CommandClasses["Manufacturer Specific"],
				{ ccId: CommandClasses["User Code"], version: 1, numUsers: lock.slots },
				{ ccId: CommandClasses["Door Lock"], version: 4 },
				{
					ccId: CommandClasses.Notification,
					version: 8,
					supportsV1Alarm: false,
					notificationTypesAndEvents: { 6: [1, 2, 3, 4, 5, 6, 9, 11, 12, 13, 14, 15, 16] },
				},
				{ ccId: CommandClasses.Battery, version: 1 },
				...settings(lock),
			],
		},
		behaviors: [offNetwork, refuseDuplicates, answerMasked, answerBattery],
	}));

	function onInit(controller, mockNodes) {
		for (const node of mockNodes) {
			node.keywardSlots = locks.find((l) => l.id === node.id).slots;
			node.keywardOffline = false;
			node.keywardMasked = Boolean(locks.find((l) => l.id === node.id).masked);
		}
		const port = Number(process.env.KEYWARD_SIM_CONTROL_PORT || 0);
		if (!port) return;
		http.createServer((request, response) => {
			let body = "";
			request.on("data", (chunk) => (body += chunk));
			request.on("end", async () => {
				try {
					const answer = await control(controller, mockNodes, request.method, request.url, body ? JSON.parse(body) : {});
					response.writeHead(200, { "content-type": "application/json" });
					response.end(JSON.stringify(answer ?? {}));
				} catch (e) {
					response.writeHead(400, { "content-type": "application/json" });
					response.end(JSON.stringify({ error: String(e && e.message ? e.message : e) }));
				}
			});
		}).listen(port, "127.0.0.1", () => console.log(`control port ${port}`));
	}

	// The tests' hands at the lock.
	async function control(controller, mockNodes, method, url, body) {
		const match = /^\/nodes\/(\d+)\/([a-z-]+)$/.exec(url);
		if (!match) throw new Error(`unknown path ${url}`);
		const node = mockNodes.find((n) => n.id === Number(match[1]));
		if (!node) throw new Error(`no node ${match[1]}`);
		switch (`${method} ${match[2]}`) {
			case "GET codes": {
				// The lock's memory, for the tests to check what is really there.
				const slots = {};
				for (let slot = 1; slot <= slotsOf(node); slot++) {
					if (slotStatus(node, slot) !== AVAILABLE) slots[slot] = codeText(slotCode(node, slot));
				}
				return slots;
			}
			case "GET settings":
				// The lock's own wrong-code limit as it holds it.
				return {
					wrong_code_limit: node.state.get(`Configuration_value_${WRONG_CODE_LIMIT}`) ?? null,
					wrong_code_lockout_time: node.state.get(`Configuration_value_${WRONG_CODE_LOCKOUT_TIME}`) ?? null,
				};
			case "POST keypad": {
				// A code typed at the keypad: the lock checks its own memory.
				for (let slot = 1; slot <= slotsOf(node); slot++) {
					if (slotStatus(node, slot) === ENABLED && codeText(slotCode(node, slot)) === body.code) {
						const unlock = body.action !== "lock";
						node.state.set("DoorLock_currentMode", unlock ? 0x00 : 0xff);
						await report(controller, node, notification(controller, unlock ? 6 : 5, slot));
						await report(controller, node, doorLockReport(controller, unlock ? 0x00 : 0xff));
						return { slot };
					}
				}
				return { slot: null };
			}
			case "POST program": {
				// A code programmed at the lock itself, as its manual describes;
				// "silent": true for a lock that sends no report of it.
				setSlot(node, body.slot, ENABLED, body.code);
				if (!body.silent) await report(controller, node, notification(controller, 14, body.slot));
				return {};
			}
			case "POST wipe": {
				// Every code deleted at the lock (a factory reset of its codes).
				for (let slot = 1; slot <= slotsOf(node); slot++) setSlot(node, slot, AVAILABLE);
				await report(controller, node, notification(controller, 12));
				return {};
			}
			case "POST manual": {
				const unlock = body.action === "unlock";
				node.state.set("DoorLock_currentMode", unlock ? 0x00 : 0xff);
				await report(controller, node, notification(controller, unlock ? 2 : 1));
				await report(controller, node, doorLockReport(controller, unlock ? 0x00 : 0xff));
				return {};
			}
			case "POST jam":
				await report(controller, node, notification(controller, 11));
				return {};
			case "POST battery":
				node.state.set("Battery_level", body.level);
				await report(controller, node, new cc.BatteryCCReport({ nodeId: controller.ownNodeId, level: body.level }));
				return {};
			case "POST offline":
				node.keywardOffline = true;
				node.autoAckControllerFrames = false;
				return {};
			case "POST online":
				node.keywardOffline = false;
			node.keywardMasked = Boolean(locks.find((l) => l.id === node.id).masked);
				node.autoAckControllerFrames = true;
				return {};
			default:
				throw new Error(`unknown command ${method} ${match[2]}`);
		}
	}

	return { controller: { behaviors: [oneFrameAtATime, newSessionForgetsTheOldOne] }, nodes, onInit };
};
