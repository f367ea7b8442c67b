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

/// The union of `sources`, each already in ascending order, in ascending
/// order and without repeats: merged as it is read, so taking a page of
/// it costs the page (times the log of the sources), not the sources' length.
pub fn union<T: Ord + Clone, I: Iterator<Item = T>>(sources: Vec<I>) -> impl Iterator<Item = T> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut sources = sources;
    let mut heads: BinaryHeap<Reverse<(T, usize)>> =
        sources.iter_mut().enumerate().filter_map(|(at, source)| Some(Reverse((source.next()?, at)))).collect();
    let mut last: Option<T> = None;
    std::iter::from_fn(move || loop {
        let Reverse((item, at)) = heads.pop()?;
        if let Some(next) = sources[at].next() {
            heads.push(Reverse((next, at)));
        }
        if last.as_ref() != Some(&item) {
            last = Some(item.clone());
            return Some(item);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::union;

    #[test]
    fn union_merges_sorted_sources_without_repeats() {
        let merged: Vec<i32> =
            union(vec![vec![1, 4, 9].into_iter(), vec![].into_iter(), vec![2, 4, 10].into_iter()]).collect();
        assert_eq!(merged, [1, 2, 4, 9, 10]);
        let newest_first = |ids: Vec<i32>| ids.into_iter().map(std::cmp::Reverse);
        let descending: Vec<i32> =
            union(vec![newest_first(vec![9, 4]), newest_first(vec![10, 9, 1])]).map(|r| r.0).collect();
        assert_eq!(descending, [10, 9, 4, 1]);
    }
}
