use crate::config::Config;

use super::*;

#[test]
fn realtime_takes_a_bool_or_a_mode_and_names_the_fix() {
    assert_eq!(
        Config::parse("realtime = false").unwrap().realtime,
        Realtime::Off
    );
    assert_eq!(
        Config::parse("realtime = true").unwrap().realtime,
        Realtime::Auto
    );
    assert_eq!(
        Config::parse("realtime = \"inotify\"").unwrap().realtime,
        Realtime::Inotify
    );
    assert_eq!(Config::default().realtime, Realtime::Auto);
    let e = Config::parse("realtime = \"fast\"").unwrap_err();
    assert!(
        e.contains("\"auto\" (or true), \"inotify\" or \"off\""),
        "{e}"
    );
    assert_eq!(
        Config::parse("realtime_queue = 64").unwrap().realtime_queue,
        64
    );
    assert!(
        Config::parse("realtime_queue = 8")
            .unwrap_err()
            .contains("realtime_queue")
    );
}
