//! Any text as `~/.databrickscfg`, with or without a profile named: parsed
//! or refused with a config error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, Option<&str>)| {
    let (text, profile) = input;
    if let Err(e) = brickwork::fuzzing::config_file(text, profile) {
        assert_eq!(e.kind(), brickwork::ErrorKind::Config, "{e}");
    }
});
