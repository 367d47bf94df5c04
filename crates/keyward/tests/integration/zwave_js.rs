//! The Z-Wave JS adapter against the real driver and server, in front of
//! zwave-js's mock controller with simulated keypad locks: what keyward
//! counts as "on the lock" is what the lock read back.

use std::time::{Duration, Instant};

use keyward_app::devices::{DeviceError, DeviceEvent, DeviceRef, LockNetwork, Protocol, SlotReading};
use keyward_zwave_js::ZwaveJs;
use tokio::sync::broadcast;

use crate::support::zwave::{SimLock, ZwaveSim};

fn node(node_id: u32) -> DeviceRef {
    DeviceRef::ZwaveJs { node_id }
}

async fn until_connected(network: &ZwaveJs, connected: bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while network.connected() != connected {
        assert!(Instant::now() < deadline, "the adapter never became connected={connected}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn next_event(
    events: &mut broadcast::Receiver<DeviceEvent>,
    wanted: impl Fn(&DeviceEvent) -> bool,
) -> DeviceEvent {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Ok(event)) if wanted(&event) => return event,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("events ended: {e}"),
            Err(_) => panic!("the awaited event never came"),
        }
    }
}

fn code_of(reading: SlotReading) -> Option<String> {
    match reading {
        SlotReading::Code(code) => Some(code.to_string()),
        _ => None,
    }
}

#[tokio::test]
async fn writes_are_read_back_and_keypad_events_name_the_slot() {
    let mut sim = ZwaveSim::start(&[
        SimLock { node_id: 2, slots: 5, ..SimLock::default() },
        SimLock { node_id: 3, slots: 3, ..SimLock::default() },
    ])
    .await;
    let network = ZwaveJs::start(&sim.url());
    until_connected(&network, true).await;
    let mut events = network.subscribe();

    let devices = network.devices();
    assert_eq!(
        devices.iter().map(|d| (d.device.clone(), d.slots, d.online)).collect::<Vec<_>>(),
        [(node(2), Some(5), true), (node(3), Some(3), true)]
    );
    assert_eq!(devices[0].device.protocol(), Protocol::ZwaveJs);
    assert_eq!((devices[0].manufacturer.as_str(), devices[0].model.as_str()), ("Allegion", "BE469"));
    assert_eq!(devices[0].state.battery, Some(87));

    // A write counts once the lock reads it back.
    let reading = network.write_code(&node(2), 1, "4719").await.expect("written");
    assert_eq!(code_of(reading).as_deref(), Some("4719"));
    assert_eq!(sim.codes(2).await, [(1, "4719".to_owned())].into());

    // The lock refuses a code another slot holds: diagnosed, not "sent".
    assert_eq!(
        network.write_code(&node(2), 2, "4719").await.map(code_of),
        Err(DeviceError::Duplicate { other_slot: None })
    );
    assert_eq!(sim.codes(2).await, [(1, "4719".to_owned())].into());

    // A code typed at the keypad names its slot.
    assert_eq!(sim.type_code(2, "4719").await, Some(1));
    let event = next_event(&mut events, |e| matches!(e, DeviceEvent::Keypad { .. })).await;
    assert!(matches!(event, DeviceEvent::Keypad { slot: 1, unlocked: true, device } if device == node(2)));

    // A code programmed at the lock is read as it is.
    sim.program_at_lock(3, 2, "2580").await;
    assert_eq!(code_of(network.read_slot(&node(3), 2).await.expect("read")).as_deref(), Some("2580"));
    assert!(matches!(network.read_slot(&node(3), 1).await, Ok(SlotReading::Empty)));

    // Cleared means read back empty.
    assert!(matches!(network.clear_code(&node(2), 1).await, Ok(SlotReading::Empty)));
    assert!(sim.codes(2).await.is_empty());

    // A lock off the network: the driver gives up, the adapter says offline.
    sim.set_online(2, false).await;
    assert_eq!(network.write_code(&node(2), 1, "1357").await.map(code_of), Err(DeviceError::Offline));
    sim.set_online(2, true).await;
    assert_eq!(code_of(network.write_code(&node(2), 1, "1357").await.expect("back")).as_deref(), Some("1357"));

    // The server goes away and comes back: said both times.
    sim.stop_server();
    next_event(&mut events, |e| *e == DeviceEvent::Network { connected: false }).await;
    assert_eq!(network.write_code(&node(2), 2, "8642").await.map(code_of), Err(DeviceError::Disconnected));
    sim.restart_server(false).await;
    next_event(&mut events, |e| *e == DeviceEvent::Network { connected: true }).await;
    assert_eq!(code_of(network.read_slot(&node(2), 1).await.expect("read")).as_deref(), Some("1357"));
    assert!(network.operate(&node(2), true).await.is_ok());
}
