//! The devices keyward programs: which network, which device on it, which
//! of its slots keyward may use, and what happens to a device a lock leaves.

use std::fmt;

/// A lock protocol keyward speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    ZwaveJs,
    Zigbee2Mqtt,
}

impl Protocol {
    pub const ALL: [Self; 2] = [Self::ZwaveJs, Self::Zigbee2Mqtt];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ZwaveJs => "zwave_js",
            Self::Zigbee2Mqtt => "zigbee2mqtt",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// The lowest slot number the protocol has: Z-Wave numbers user codes
    /// from 1, Zigbee (and Zigbee2MQTT's `user`) from 0.
    pub fn first_slot(self) -> u16 {
        match self {
            Self::ZwaveJs => 1,
            Self::Zigbee2Mqtt => 0,
        }
    }
}

/// One lock on a network, as that network knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceRef {
    /// A Z-Wave node, by its number.
    ZwaveJs { node_id: u32 },
    /// A Zigbee2MQTT device, by its IEEE address: its identity. Its friendly
    /// name (its MQTT topic) can be renamed onto other hardware, so it is
    /// only for topics and display.
    Zigbee2Mqtt { ieee_address: IeeeAddress },
    /// A Zigbee2MQTT device bound by friendly name before keyward bound by
    /// address: still reached by that name, and bound by the address of the
    /// device carrying it when Zigbee2MQTT next lists its devices.
    Zigbee2MqttNamed { friendly_name: FriendlyName },
}

impl DeviceRef {
    pub fn protocol(&self) -> Protocol {
        match self {
            Self::ZwaveJs { .. } => Protocol::ZwaveJs,
            Self::Zigbee2Mqtt { .. } | Self::Zigbee2MqttNamed { .. } => Protocol::Zigbee2Mqtt,
        }
    }
}

impl fmt::Display for DeviceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZwaveJs { node_id } => write!(f, "Z-Wave node {node_id}"),
            Self::Zigbee2Mqtt { ieee_address } => write!(f, "Zigbee device {}", ieee_address.as_str()),
            Self::Zigbee2MqttNamed { friendly_name } => write!(f, "Zigbee device {}", friendly_name.as_str()),
        }
    }
}

/// A Zigbee device's IEEE address as Zigbee2MQTT writes it: `0x` and 16
/// hexadecimal digits (kept in lower case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IeeeAddress(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a Zigbee IEEE address is 0x and 16 hexadecimal digits")]
pub struct IeeeAddressError;

impl IeeeAddress {
    pub fn parse(text: &str) -> Result<Self, IeeeAddressError> {
        let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).ok_or(IeeeAddressError)?;
        if digits.len() != 16 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(IeeeAddressError);
        }
        Ok(Self(format!("0x{}", digits.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Zigbee2MQTT friendly name: it is part of MQTT topics, so it may not
/// hold MQTT wildcards, control characters, or empty levels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FriendlyName(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a Zigbee2MQTT friendly name has 1 to 128 characters, without +, #, control characters or empty topic levels")]
pub struct FriendlyNameError;

impl FriendlyName {
    pub const MAX_CHARS: usize = 128;

    pub fn parse(text: &str) -> Result<Self, FriendlyNameError> {
        let fine = !text.is_empty()
            && text.chars().count() <= Self::MAX_CHARS
            && !text.chars().any(|c| c == '+' || c == '#' || c.is_control())
            && text.split('/').all(|level| !level.is_empty());
        if fine { Ok(Self(text.to_owned())) } else { Err(FriendlyNameError) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A lock keyward programs: the device, and the slots it may use (`None`:
/// every slot the lock reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceBinding {
    pub device: DeviceRef,
    pub slots: Option<SlotRange>,
}

/// The slots of a lock keyward may use, inclusive. Slots outside it (codes
/// programmed at the lock itself) are never touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRange {
    first: u16,
    last: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a slot range runs from a first slot to a last slot at or after it, inside the lock's slots")]
pub struct SlotRangeError;

impl SlotRange {
    /// Any ordered range; whether the lock has those slots is
    /// [`SlotRange::within`] its [`SlotRange::of_lock`].
    pub fn new(first: u16, last: u16) -> Result<Self, SlotRangeError> {
        if last < first {
            return Err(SlotRangeError);
        }
        Ok(Self { first, last })
    }

    /// Every slot of a lock with `count` slots, numbered as its protocol does.
    pub fn of_lock(protocol: Protocol, count: u16) -> Option<Self> {
        let first = protocol.first_slot();
        let last = first.checked_add(count.checked_sub(1)?)?;
        Some(Self { first, last })
    }

    pub fn within(&self, outer: &SlotRange) -> bool {
        outer.first <= self.first && self.last <= outer.last
    }

    pub fn first(&self) -> u16 {
        self.first
    }

    pub fn last(&self) -> u16 {
        self.last
    }

    pub fn contains(&self, slot: u16) -> bool {
        (self.first..=self.last).contains(&slot)
    }

    pub fn slots(&self) -> impl Iterator<Item = u16> {
        self.first..=self.last
    }
}

/// What happens to a bound lock whose owner removed it, unbound it, or
/// bound it to another device. Every code keyward put on the old device is
/// taken off it first: until the device reads back empty the change waits
/// (the lock is "being removed"), unless the owner forces it, and is told
/// in words which codes stay on which device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// The lock goes, once its device holds none of keyward's codes.
    Delete,
    /// The lock stays, bound to no device.
    Unbind,
    /// The lock moves to another device, which is then read back in full.
    Move(DeviceBinding),
}

impl Removal {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Delete => "delete",
            Self::Unbind => "unbind",
            Self::Move(_) => "move",
        }
    }

    /// The device the lock will be bound to once the change is done.
    pub fn next_binding(&self) -> Option<&DeviceBinding> {
        match self {
            Self::Move(binding) => Some(binding),
            Self::Delete | Self::Unbind => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ieee_addresses_are_read_as_zigbee2mqtt_writes_them() {
        let address = IeeeAddress::parse("0x000D6F0000000001").expect("valid");
        assert_eq!(address.as_str(), "0x000d6f0000000001");
        assert_eq!(IeeeAddress::parse("0x000d6f0000000001"), Ok(address));
        for bad in ["000d6f0000000001", "0x000d6f000000001", "0x000d6f00000000001", "0x000d6f000000000g", ""] {
            assert_eq!(IeeeAddress::parse(bad), Err(IeeeAddressError), "{bad}");
        }
    }
}
