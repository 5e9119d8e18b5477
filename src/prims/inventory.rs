//! The inventory as scripts see it: the constant `inventory` and `Host` values.
//!
//! ```rhai
//! let managers = inventory.group("new_managers");   // hosts in file order
//! let active = managers[0];
//! print(active.name + " at " + active.address + ", patronictl " + active.vars.patronictl);
//! ```

use super::{add, at, Failure, RhaiResult};
use crate::context::Ctx;
use crate::error::Kind;
use crate::inventory::HostInfo;
use rhai::{Array, Dynamic, Engine, Map, Module, NativeCallContext};
use std::sync::Arc;

/// A host from the inventory.
#[derive(Debug, Clone)]
pub struct Host(pub Arc<HostInfo>);

/// The inventory value (`inventory` in every script).
#[derive(Clone)]
pub struct InventoryRef(pub Arc<Ctx>);

impl std::fmt::Debug for InventoryRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Inventory({} hosts)", self.0.inventory.hosts().len())
    }
}

fn toml_to_dynamic(v: &toml::Value) -> Dynamic {
    match v {
        toml::Value::String(s) => s.clone().into(),
        toml::Value::Integer(i) => (*i).into(),
        toml::Value::Float(f) => (*f).into(),
        toml::Value::Boolean(b) => (*b).into(),
        toml::Value::Datetime(d) => d.to_string().into(),
        toml::Value::Array(a) => Dynamic::from_array(a.iter().map(toml_to_dynamic).collect()),
        toml::Value::Table(t) => Dynamic::from_map(
            t.iter()
                .map(|(k, v)| (k.into(), toml_to_dynamic(v)))
                .collect(),
        ),
    }
}

fn hosts_array(hosts: Vec<Arc<HostInfo>>) -> Array {
    hosts.into_iter().map(|h| Dynamic::from(Host(h))).collect()
}

fn lookup<T>(r: crate::error::Result<T>) -> RhaiResult<T> {
    r.map_err(|e| {
        Failure::new(
            Kind::Usage,
            "",
            format!("{}; {}", e.message(), e.help_text().unwrap_or_default()),
        )
        .into_err()
    })
}

/// Register the Host and Inventory types; the `inventory` constant is pushed into each scope by
/// the engine builder.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Host>("Host")
        .register_get("name", |h: &mut Host| h.0.name.clone())
        .register_get("address", |h: &mut Host| h.0.address.clone())
        .register_get("groups", |h: &mut Host| -> Array {
            h.0.groups.iter().map(|g| g.into()).collect()
        })
        .register_get("vars", |h: &mut Host| -> Map {
            h.0.vars
                .iter()
                .map(|(k, v)| (k.into(), toml_to_dynamic(v)))
                .collect()
        })
        .register_fn("to_string", |h: &mut Host| h.0.name.clone())
        .register_fn("to_debug", |h: &mut Host| {
            format!("Host({})", h.0.describe())
        })
        .register_fn("==", |a: Host, b: Host| a.0.name == b.0.name)
        .register_fn("!=", |a: Host, b: Host| a.0.name != b.0.name)
        .register_type_with_name::<InventoryRef>("Inventory")
        .register_fn("to_string", |i: &mut InventoryRef| {
            format!("inventory of {} hosts", i.0.inventory.hosts().len())
        });

    let mut m = Module::new();
    add!(&mut m, "group", &["inventory: Inventory", "name: String", "Array"],
        "The hosts of group `name`, in the inventory file's order. Fails if the group is empty or unknown.",
        |nc: NativeCallContext, i: &mut InventoryRef, name: &str| -> RhaiResult<Array> { at(&nc, lookup(i.0.inventory.group(name)).map(hosts_array)) });
    add!(
        &mut m,
        "host",
        &["inventory: Inventory", "name: String", "Host"],
        "The host called `name`.",
        |nc: NativeCallContext, i: &mut InventoryRef, name: &str| -> RhaiResult<Host> {
            at(&nc, lookup(i.0.inventory.host(name)).map(Host))
        }
    );
    add!(
        &mut m,
        "hosts",
        &["inventory: Inventory", "Array"],
        "Every host, in file order.",
        |i: &mut InventoryRef| -> Array { hosts_array(i.0.inventory.hosts().to_vec()) }
    );
    add!(
        &mut m,
        "groups",
        &["inventory: Inventory", "Array"],
        "Every group name, in order of first appearance.",
        |i: &mut InventoryRef| -> Array {
            i.0.inventory
                .group_names()
                .into_iter()
                .map(Dynamic::from)
                .collect()
        }
    );
    add!(
        &mut m,
        "var",
        &["host: Host", "name: String", "default: ?", "?"],
        "The host's inventory variable `name`, or `default` when the inventory does not set it.",
        |h: &mut Host, name: &str, default: Dynamic| -> Dynamic {
            h.0.vars.get(name).map(toml_to_dynamic).unwrap_or(default)
        }
    );
    engine.register_global_module(m.into());
}
