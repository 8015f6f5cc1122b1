//! The ELF reader the entrypoint and go-binary checks use.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = stowaway::policy::elf::is_elf(data);
    let _ = stowaway::policy::elf::inspect(data);
});
