//! Secondary indexes: key -> the set of ids filed under it (jobs by name,
//! objects by grantee, groups by member). An empty set is dropped, so an
//! index holds only keys that still name something.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

/// File `id` under `key`.
pub fn file<K: Hash + Eq, V: Ord>(index: &mut HashMap<K, BTreeSet<V>>, key: K, id: V) {
    index.entry(key).or_default().insert(id);
}

/// Take `id` out from under `key`, and `key` with it when nothing is left.
pub fn unfile<K: Hash + Eq, V: Ord>(index: &mut HashMap<K, BTreeSet<V>>, key: &K, id: &V) {
    if let Some(ids) = index.get_mut(key) {
        ids.remove(id);
        if ids.is_empty() {
            index.remove(key);
        }
    }
}
