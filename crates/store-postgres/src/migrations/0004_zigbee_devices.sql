-- Zigbee2MQTT locks (issue 9) are named, not numbered: a lock's device is a
-- Z-Wave node (device_node) or a Zigbee2MQTT friendly name (device_name).
ALTER TABLE locks ADD COLUMN device_name TEXT;
CREATE UNIQUE INDEX locks_by_device_name ON locks (device_protocol, device_name) WHERE device_name IS NOT NULL;
