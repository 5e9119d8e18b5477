//! Small text helpers Rhai lacks in a non-mutating form (Rhai's `trim` changes the string in place
//! and returns nothing, which reads wrong in `r.stdout.trim()`).

use super::add;
use rhai::{Array, Dynamic, Engine, Module};

pub fn register(engine: &mut Engine) {
    let mut m = Module::new();
    add!(
        &mut m,
        "trimmed",
        &["text: String", "String"],
        "`text` without leading and trailing whitespace (a new string; `text` is unchanged).",
        |text: &str| text.trim().to_string()
    );
    add!(
        &mut m,
        "lines",
        &["text: String", "Array"],
        "The lines of `text`, without line endings; no trailing empty line.",
        |text: &str| -> Array { text.lines().map(|l| Dynamic::from(l.to_string())).collect() }
    );
    engine.register_global_module(m.into());
}
