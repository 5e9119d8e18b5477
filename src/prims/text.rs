//! Small text helpers: non-mutating forms Rhai lacks (Rhai's `trim` changes the string in place
//! and returns nothing, which reads wrong in `r.stdout.trim()`), and JSON parsing for the
//! `--json` output of CLIs such as `cfy`.

use super::{add, usage, RhaiResult};
use rhai::{Array, Dynamic, Engine, Module, NativeCallContext};

/// YAML as Rhai values (types kept: int, float, bool, string, map, array, null as `()`).
pub fn yaml_to_dynamic(v: &serde_yaml_ng::Value) -> Dynamic {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Null => Dynamic::UNIT,
        Y::Bool(b) => (*b).into(),
        Y::Number(n) => n
            .as_i64()
            .map(Dynamic::from)
            .or_else(|| n.as_f64().map(Dynamic::from))
            .unwrap_or(Dynamic::UNIT),
        Y::String(s) => s.clone().into(),
        Y::Sequence(s) => Dynamic::from_array(s.iter().map(yaml_to_dynamic).collect()),
        Y::Mapping(m) => Dynamic::from_map(
            m.iter()
                .map(|(k, v)| (yaml_key(k).into(), yaml_to_dynamic(v)))
                .collect(),
        ),
        Y::Tagged(t) => yaml_to_dynamic(&t.value),
    }
}

fn yaml_key(k: &serde_yaml_ng::Value) -> String {
    match k {
        serde_yaml_ng::Value::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

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
        "join",
        &["items: Array", "separator: String", "String"],
        "The items as text, separated by `separator` (hosts by their names).",
        |nc: NativeCallContext, items: Array, separator: &str| -> RhaiResult<String> {
            let words: RhaiResult<Vec<String>> = items
                .into_iter()
                .map(|i| nc.call_native_fn::<String>("to_string", (i,)))
                .collect();
            Ok(words?.join(separator))
        }
    );
    add!(
        &mut m,
        "lines",
        &["text: String", "Array"],
        "The lines of `text`, without line endings; no trailing empty line.",
        |text: &str| -> Array { text.lines().map(|l| Dynamic::from(l.to_string())).collect() }
    );
    add!(&mut m, "from_json", &["text: String", "?"],
        "Parse JSON text into Rhai values (objects become maps, arrays arrays, null `()`); fails with\nthe parser's message and position, never the text (it may be a sensitive command's output).",
        |text: &str| -> RhaiResult<Dynamic> {
            let value: serde_json::Value = match serde_json::from_str(text) {
                Ok(v) => v,
                Err(e) => {
                    return usage(format!(
                        "invalid JSON: {e} ({} bytes of text)",
                        text.len()
                    ))
                }
            };
            rhai::serde::to_dynamic(value)
        });
    add!(&mut m, "from_yaml", &["text: String", "?"],
        "Parse YAML text into Rhai values (types kept; null is `()`); fails with the parser's message.",
        |text: &str| -> RhaiResult<Dynamic> {
            serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text)
                .map(|v| yaml_to_dynamic(&v))
                .or_else(|e| usage(format!("invalid YAML: {e}")))
        });
    engine.register_global_module(m.into());
}
